"""Helpers the tests share (not tests themselves): audio files and manifests written for real
(`audio`), the tiny sweep (`tiny_sweep`), the tiny trial (`tiny_trial`), and a stand-in child
for the supervisor (`fake_worker`, run as a script)."""
