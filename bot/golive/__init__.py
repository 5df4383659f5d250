"""The go-live sequence: steps derived from the template, one gate, hold, rollback, the traffic webhook."""
