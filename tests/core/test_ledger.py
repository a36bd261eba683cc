"""The ledger reads on both databases (issue 9, item 1): sums of minor units are exact."""


def test_decimal_rewards_in_ledger_and_mine(chat):
    chat.say("alice", "!offer Fix typo reward:12.50EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 x")
    assert chat.say("alice", "!approve T1").startswith("Approved")
    chat.say("alice", "!offer Second reward:0.05EUR")
    chat.say("bob", "!claim T2")
    chat.say("bob", "!submit T2 y")
    chat.say("alice", "!approve T2")
    ledger = chat.say("carol", "!ledger")
    assert "- bob 12.55 EUR (2 contributions)" in ledger, ledger
    assert "T1 Fix typo — 12.50 EUR, approved by alice" in ledger
    assert "- bob 12.55 EUR (2 contributions)" in chat.say("carol", "!ledger @bob")
    assert "Your ledger: 12.55 EUR" in chat.say("bob", "!mine")
