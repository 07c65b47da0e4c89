"""Engine tests run with every unsaved array stubbed, however small: a backward rule that reads a
value its row of the primitive table does not declare in ``save`` fails loudly here."""
import pytest

from diffprog.autodiff import node


@pytest.fixture(autouse=True)
def stub_every_unsaved_array(monkeypatch):
    monkeypatch.setattr(node, "STUB_MIN_BYTES", 0)
