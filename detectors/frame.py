"""A batch of events as the built-in rules see it: columns decoded into numpy codes on first
use, and what rules derive from them kept for the other rules of an ensemble."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Hashable

import numpy as np
import pyarrow as pa

from snoopbench.detectors.columns import VOCAB, arr, codes, ms, np_column

if TYPE_CHECKING:
    from snoopbench.detectors.index import ForceIndex


class Frame:
    """A batch of events, decoded column by column on first use.

    ``user`` indexes :attr:`ForceIndex.user_ids` (-1 if not on the staff list); ``system``,
    ``action`` and ``etype`` index the contract's vocabularies (-1 unknown); ``ref`` indexes
    :attr:`ForceIndex.refs` (-1 for no reference or one the context does not know). What rules
    derive from a frame goes in :meth:`memo`, so the rules of an ensemble share the work.
    """

    def __init__(self, batch: pa.RecordBatch | pa.Table, index: ForceIndex) -> None:
        self.batch = batch
        self.index = index
        self.cache: dict[str, Any] = {}

    def __len__(self) -> int:
        return self.batch.num_rows

    def memo(self, name: Hashable, compute: Callable[[], Any]) -> Any:
        if name not in self.cache:
            self.cache[name] = compute()
        return self.cache[name]

    def partial(self, name: str, idx: np.ndarray,
                compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """An int64 value per event ``idx``, each event's computed once per frame, whichever
        rule asks first: ``compute(at)`` gives them for the events ``idx[at]`` (-2 stands for
        not yet computed, so a value of -2 is merely computed again)."""
        known = self.memo(("partial", name), lambda: np.full(len(self), -2, np.int64))
        got = known[idx]
        todo = np.flatnonzero(got == -2)
        if len(todo):
            got[todo] = known[idx[todo]] = compute(todo)
        return got

    @cached_property
    def event_id(self) -> np.ndarray:
        return np_column(self.batch.column("event_id")).astype(np.int64, copy=False)

    @cached_property
    def ts(self) -> np.ndarray:
        """UTC milliseconds."""
        return ms(self.batch.column("ts"))

    @cached_property
    def user(self) -> np.ndarray:
        return self.index.user_index(np_column(self.batch.column("user_id")))

    @cached_property
    def system(self) -> np.ndarray:
        return codes(self.batch.column("system"), VOCAB["system"])

    @cached_property
    def action(self) -> np.ndarray:
        return codes(self.batch.column("action"), VOCAB["action"])

    @cached_property
    def etype(self) -> np.ndarray:
        return codes(self.batch.column("entity_type"), VOCAB["entity_type"])

    @cached_property
    def entity(self) -> np.ndarray:
        return np_column(self.batch.column("entity_id")).astype(np.int64, copy=False)

    @cached_property
    def ref(self) -> np.ndarray:
        return self.index.ref_codes(self.batch.column("reference"))

    def ref_at(self, idx: np.ndarray) -> np.ndarray:
        """:attr:`ref` for the events ``idx`` only (decoding only those, unless all are)."""
        return self._decoded_at("ref", "reference", idx, self.index.ref_codes)

    def system_at(self, idx: np.ndarray) -> np.ndarray:
        """:attr:`system` for the events ``idx`` only."""
        return self._decoded_at("system", "system", idx, lambda c: codes(c, VOCAB["system"]))

    def action_at(self, idx: np.ndarray) -> np.ndarray:
        """:attr:`action` for the events ``idx`` only."""
        return self._decoded_at("action", "action", idx, lambda c: codes(c, VOCAB["action"]))

    def _decoded_at(self, attr: str, name: str, idx: np.ndarray,
                    decode: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
        if attr in self.__dict__:  # all decoded already
            return getattr(self, attr)[idx]
        column = arr(self.batch.column(name))
        return self.partial(attr, idx, lambda at: decode(column.take(idx[at])))

    @cached_property
    def typed(self) -> np.ndarray:
        """A reference was typed (not null, not empty)."""
        col = arr(self.batch.column("reference"))
        if not pa.types.is_string(col.type):
            col = col.cast(pa.string())
        offsets = np.frombuffer(col.buffers()[1], np.int32)[col.offset:col.offset + len(col) + 1] \
            if len(col) else np.zeros(1, np.int32)
        valid = col.is_valid().to_numpy(zero_copy_only=False) if col.null_count else True
        return (np.diff(offsets) > 0) & valid

    @property
    def role(self) -> np.ndarray:
        """Role code of each event's user (the unknown-role code for unknown users)."""
        return self.memo("role", lambda: self.index.role_of(self.user))
