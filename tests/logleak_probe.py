"""Run only by tests/test_log_leaks.py, in a pytest of its own (its name does not match
test_*.py): a password logged plainly, which no filter can recognise, must fail the run."""

import logging

from accounts.models import User


def test_logs_a_password_plainly():
    User(username="probe").set_password("probe passphrase 8431")  # collected by the hasher
    logging.getLogger("probe").warning("the user typed %s", "probe passphrase 8431")
