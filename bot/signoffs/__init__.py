"""Sign-offs: who may approve which role, approvals and revocations, GO, and who may close a launch."""
