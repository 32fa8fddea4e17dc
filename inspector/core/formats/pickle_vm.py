"""A small, bounded pickle interpreter: the opcode loop behind the PyTorch checkpoint readers.

The standard :class:`pickle.Unpickler` cannot be bounded from the outside: it grows its memo to any index a
file names (``LONG_BINPUT 2**27`` asks for a gigabyte), hashes a 200,000-deep tuple in C recursion (a
segfault), lets ``BUILD`` rewrite any object's ``__dict__`` and calls allowlisted functions with whatever the
file memoised. This interpreter decodes the opcodes with :func:`pickletools.genops` (which only ever reads the
bytes that are there) and runs each one itself, so it can:

* charge every opcode and every materialised element against a work budget proportional to the pickle's size;
* keep the memo in a dict (an index costs nothing) and cap its entries;
* know the nesting depth and expanded size of every hashable it builds, and refuse one too deep to hash before
  any C code recurses into it;
* never import anything: a global is resolved by a caller-supplied function to a placeholder, and a call of a
  global that is not on the allowlist is *recorded* (:class:`RecordedThreat`) instead of run, its result
  replaced by :data:`Poison`, so the rest of the file can still be read safely;
* apply ``BUILD`` only where it is harmless (never to a placeholder, never to a global).
"""

from __future__ import annotations

import collections
import pickletools
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

#: Deepest tuple/frozenset nesting accepted (hashing recurses in C once per level).
MAX_HASH_DEPTH = 100
#: Most memo entries.
MAX_MEMO = 1 << 24
#: Budget: work units per pickle byte, plus a fixed allowance (units: opcodes and elements touched).
WORK_PER_BYTE = 16
WORK_BASE = 1 << 20
#: Expanded size beyond which a hashable counts as this many units each time it is hashed.
_SIZE_CAP = 1 << 40
#: Lines of opcode listing kept before a recorded threat.
LISTING_BEFORE = 10


#: Opcodes whose decoded argument is the value pushed (NONE's argument is None).
#: Text and bytes literals from this size are remembered (see ``Machine.literals``), at most this many.
LITERAL_BYTES = 256
MAX_LITERALS = 10_000
#: Most pickles nested in one stream (joblib writes an array of objects as a pickle inside its own).
MAX_NESTED = 8
#: Keys of state_dicts' ``_metadata`` kept, in all (a model has a key a module: thousands at most).
MAX_MODULE_KEYS = 1_000_000
_PUSH_TEXT = frozenset("IJKMLN\x8a\x8bFGV\x8c\x8dX")


class PickleError(Exception):
    """The pickle is malformed or exceeds a budget (the message says which, in one line)."""


class NeedsCode(Exception):
    """Raised by a rebuilt callable whose argument is a global that only code can supply (a defaultdict whose
    default factory is a function of the file's own): the object needs that code, like an instance of its own
    class, and the machine records it so (never an error of the file)."""

    def __init__(self, ref: GlobalRef) -> None:
        super().__init__(ref.full)
        self.ref = ref


class BudgetError(PickleError):
    """The pickle asks for more work or memory than its size can justify."""


@dataclass(frozen=True, eq=False)
class GlobalRef:
    """A global the pickle names that is not on the allowlist: never imported, only described."""

    module: str
    name: str
    offset: int

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"<global {self.full}>"


class ScriptObject:
    """A TorchScript module object: its class is code that runs at inference, never here; its attribute dict
    (set by one BUILD) is kept as plain data, so the weights in it can be listed. ``whole``: an object of a
    pickled whole model (``torch.save(model)``) instead, whose class ``torch.load`` would import from its package."""

    __slots__ = ("cls", "state", "whole")

    def __init__(self, cls: GlobalRef, whole: bool = False) -> None:
        self.cls = cls
        self.state: dict[Any, Any] = {}
        self.whole = whole

    def __repr__(self) -> str:
        return f"<{'object of' if self.whole else 'TorchScript'} {self.cls.full}>"


@dataclass(frozen=True, eq=False)
class Instance:
    """An object of an ordinary (non-allowlisted) class that ``pickle.load`` would rebuild with the class's code."""

    cls: GlobalRef

    def __repr__(self) -> str:
        return f"<{self.cls.full} object>"


@dataclass(frozen=True, eq=False)
class Opaque:
    """A known data object (e.g. a numpy array) that is kept as a description, never rebuilt."""

    what: str

    def __repr__(self) -> str:
        return f"<{self.what}>"


class _PoisonType:
    """What a refused call (or anything computed from one) stands for: never read as data."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<result of a refused call>"


Poison = _PoisonType()


@dataclass(frozen=True)
class RecordedThreat:
    module: str
    name: str
    call: str  # "call", "new-object", "instantiate", "build", "reference"
    offset: int
    listing: tuple[str, ...]


@dataclass
class Resolution:
    """What a global resolves to: ``value`` (a placeholder or an allowlisted callable), or a foreign global."""

    value: Any


#: How a foreign global is treated when called.
DANGER, CLASS, OPAQUE, FUNCTION = "danger", "class", "opaque", "function"
#: Distinct globals of a whole model listed in :attr:`Machine.rebuilt` (the rest are rebuilt all the same).
MAX_REBUILT = 64


def _plain_data(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is plain data (text, numbers, None, and tuples of them): what ``__getnewargs__`` gives
    ``NEWOBJ`` for a class's ``__new__`` (the characters of a name, a shape)."""
    if value is None or type(value) in (str, bytes, int, float, bool):
        return True
    if type(value) is tuple and depth < 4 and len(value) <= 4096:
        return all(_plain_data(v, depth + 1) for v in value)
    return False


def _one_scalar(args: tuple[Any, ...]) -> bool:
    """Whether a call's arguments are one string or integer (an enumeration member's value)."""
    return len(args) == 1 and type(args[0]) in (str, int)


def _no_arguments(args: tuple[Any, ...]) -> bool:
    """Whether copyreg's helpers build an object without arguments: ``__newobj__(cls)``, or
    ``_reconstructor(cls, object, None)`` (protocols 0 and 1), which is ``object.__new__(cls)``."""
    if not args:
        return True
    return len(args) == 2 and isinstance(args[0], GlobalRef) and args[0].full == "builtins.object" and args[1] is None


def _short(arg: Any, limit: int = 60) -> str:
    """A short, printable rendering of an opcode argument (never materialising a huge repr)."""
    if arg is None:
        return ""
    if isinstance(arg, (bytes, bytearray)):
        head = bytes(arg[:limit])
        text = repr(head) + (f"...({len(arg):,} bytes)" if len(arg) > limit else "")
    elif isinstance(arg, str):
        text = repr(arg[:limit]) + (f"...({len(arg):,} chars)" if len(arg) > limit else "")
    elif isinstance(arg, int) and arg.bit_length() > 200:
        text = f"<int of {arg.bit_length():,} bits>"
    else:
        text = repr(arg)[:limit]
    return text.encode("ascii", "backslashreplace").decode("ascii")


class _Mark:
    pass


@dataclass
class Machine:
    """Runs one pickle from ``file`` (positioned at its first opcode) to its STOP.

    ``resolve(module, name, offset)`` returns the placeholder or allowlisted callable for a global, or a
    :class:`GlobalRef`; ``classify(ref)`` says how a foreign global behaves when called; ``persistent_load(pid)``
    handles persistent ids. ``size`` is the pickle's byte count, which sets the work budget.
    """

    file: Any
    size: int
    resolve: Callable[[str, str, int], Any]
    classify: Callable[[GlobalRef], str]
    persistent_load: Optional[Callable[[Any], Any]] = None
    threats: list[RecordedThreat] = field(default_factory=list)
    needs_code: list[GlobalRef] = field(default_factory=list)
    #: Classes rebuilt as :class:`ScriptObject` (a TorchScript archive's ``__torch__`` modules), or ``None``.
    scripted: Optional[Callable[[GlobalRef], bool]] = None
    #: Globals of a pickled whole model: a class the pickle builds without arguments (``object.__new__`` and then
    #: its state, as ``torch.save(model)`` writes every module) is rebuilt as a :class:`ScriptObject`, and a
    #: global only named is left unimported; both are listed in :attr:`rebuilt`. ``None``: they need code.
    rebuildable: Optional[Callable[[GlobalRef], bool]] = None
    #: enumeration classes whose members (pickled as the class called with the member's value) are rebuilt as
    #: their value in a whole pickle, the class listed as rebuilt (its code is the installed package's)
    enums: Optional[Callable[[GlobalRef], bool]] = None
    rebuilt: list[GlobalRef] = field(default_factory=list)
    #: how many pickles deep this one runs inside the stream of another (see :meth:`nested`)
    depth: int = 0

    def __post_init__(self) -> None:
        self.budget = WORK_PER_BYTE * max(0, self.size) + WORK_BASE
        self.work = 0
        self.memo: dict[int, Any] = {}
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self._shape: dict[int, tuple[int, int]] = {}  # id of a tuple/frozenset we built -> (depth, expanded size)
        self._keep: list[Any] = []  # keeps those alive so their ids stay unique
        self._recent: collections.deque[tuple[int, str, Any]] = collections.deque(maxlen=LISTING_BEFORE)
        self._globals: list[GlobalRef] = []
        self._called: set[int] = set()
        self.ops = 0
        #: ``(offset, value)`` of every text or bytes literal of at least LITERAL_BYTES (at most MAX_LITERALS):
        #: a value the pickle builds and then drops is a place to hide data that no reader of the result sees
        self.literals: list[tuple[int, Any]] = []
        #: the keys of the ``_metadata`` a state_dict carries (module names), which :meth:`_build` drops
        self.module_keys: list[str] = []

    def nested(self) -> Any:
        """Run the pickle that follows in the stream (joblib writes an array of objects so) under this one's rules
        and budget, its threats, rebuilt classes and needs recorded here; its value."""
        if self.depth >= MAX_NESTED:
            raise PickleError(f"pickle nests pickles in its stream deeper than {MAX_NESTED} levels")
        inner = Machine(
            self.file,
            self.size,
            self.resolve,
            self.classify,
            None,
            scripted=self.scripted,
            rebuildable=self.rebuildable,
            depth=self.depth + 1,
        )
        inner.budget = max(0, self.budget - self.work)
        obj = inner.run()
        inner.finish()
        self.charge(inner.work)
        self.threats += inner.threats
        self.needs_code += [r for r in inner.needs_code if r not in self.needs_code]
        self.rebuilt += [r for r in inner.rebuilt if r not in self.rebuilt]
        self.literals += inner.literals[: max(0, MAX_LITERALS - len(self.literals))]
        return obj

    # ------------------------------------------------------------------------------------------ budget
    def charge(self, units: int) -> None:
        self.work += units
        if self.work > self.budget:
            raise BudgetError(
                f"pickle asks for more work than its {self.size:,} bytes can justify (over {self.budget:,} units)"
            )

    def _hashable(self, obj: Any) -> tuple[int, int]:
        if isinstance(obj, (tuple, frozenset)):
            known = self._shape.get(id(obj))
            if known is None:  # not built here (cannot happen); measure shallowly
                return 1, len(obj) + 1
            return known
        return 0, 1

    def _record_shape(self, obj: Any) -> Any:
        if type(obj) is tuple or type(obj) is frozenset:
            depth, size = self._shape_of_items(obj)
            if depth + 1 > MAX_HASH_DEPTH:
                raise PickleError(f"pickle nests tuples deeper than {MAX_HASH_DEPTH} levels")
            self._shape[id(obj)] = (depth + 1, min(_SIZE_CAP, size + 1))
            self._keep.append(obj)
        return obj

    def _shape_of_items(self, items: Any) -> tuple[int, int]:
        """Deepest nesting and expanded size of a collection's items (a comprehension: C speed per item)."""
        get = self._shape.get
        if len(items) <= 8:  # the usual tuple: a plain loop beats building lists
            depth, size = 0, 0
            for x in items:
                if type(x) is tuple or type(x) is frozenset:
                    d, n = get(id(x)) or (1, len(x) + 1)
                    depth, size = max(depth, d), size + n
                else:
                    size += 1
            return depth, min(_SIZE_CAP, size)
        subs = [get(id(x)) or (1, len(x) + 1) for x in items if type(x) is tuple or type(x) is frozenset]
        depth = max((d for d, _ in subs), default=0)
        size = len(items) - len(subs) + sum(s for _, s in subs)
        return depth, min(_SIZE_CAP, size)

    def _tuple(self, items: Any) -> tuple[Any, ...]:
        t = tuple(items)
        self.charge(len(t))
        return self._record_shape(t)  # type: ignore[no-any-return]

    def _hash_cost(self, key: Any) -> None:
        """Charge for hashing ``key`` (its expanded size: shared sub-tuples are hashed again each time)."""
        self.charge(self._hashable(key)[1])

    # ------------------------------------------------------------------------------------------ helpers
    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise PickleError("pickle pops a mark it never set")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _pop(self) -> Any:
        if not self.stack:
            raise PickleError("pickle pops from an empty stack")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise PickleError("pickle reads an empty stack")
        return self.stack[-1]

    def _listing(self) -> tuple[str, ...]:
        """The last opcodes, decoded safely (formatted only when a threat needs them)."""
        return tuple(f"{pos:>8}: {name} {_short(arg)}".rstrip() for pos, name, arg in self._recent)

    def _threat(self, ref: GlobalRef, call: str, offset: int) -> Any:
        self.threats.append(RecordedThreat(ref.module, ref.name, call, offset, self._listing()))
        return Poison

    @staticmethod
    def _poisoned(args: Any) -> bool:
        if args is Poison:
            return True
        if isinstance(args, (tuple, list)):
            for a in args[:64]:
                if a is Poison or (isinstance(a, (tuple, list)) and any(b is Poison for b in a[:64])):
                    return True
        return False

    def _call(self, func: Any, args: Any, kind: str, offset: int) -> Any:
        if isinstance(args, list):
            args = tuple(args)
        if not isinstance(args, tuple):
            raise PickleError(f"call arguments are a {type(args).__name__}, not a tuple")
        self.charge(len(args))
        if func is Poison:
            return Poison
        if isinstance(func, GlobalRef):
            self._called.add(id(func))
            return self._foreign(func, args, kind, offset)
        if self._poisoned(args):
            return Poison
        if not callable(func) or isinstance(func, type) and func not in (set, frozenset):
            raise PickleError(f"pickle calls {_short(func)}, which is not a function")
        if kind != "call" and func not in (set, frozenset):
            raise PickleError(f"pickle builds an object of {_short(func)} with {kind}")
        self._charge_args(args)
        try:
            out = func(*args)
        except PickleError:
            raise
        except NeedsCode as e:
            if e.ref not in self.needs_code:
                self.needs_code.append(e.ref)
            return Poison
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise PickleError(f"{type(e).__name__}: {e}") from None
        if isinstance(out, (str, bytes, bytearray)):  # a copy made by the call (_codecs.encode): memory
            self.charge(len(out))
        return self._record_shape(out)

    def _charge_args(self, args: tuple[Any, ...]) -> None:
        """Charge the elements an allowlisted callable will touch (set(), OrderedDict(), torch.Size()...)."""
        for a in args:
            if isinstance(a, (str, bytes, bytearray)):
                self.charge(len(a) // 8)
            elif isinstance(a, (tuple, list, set, frozenset, dict)):
                self.charge(len(a))  # before looking at the items: a huge collection fails here, at once
                self.charge(self._shape_of_items(a)[1])  # hashing them (a dict: its keys)

    def _foreign(self, ref: GlobalRef, args: tuple[Any, ...], kind: str, offset: int) -> Any:
        how = self.classify(ref)
        if how == DANGER or how == FUNCTION:
            return self._threat(ref, kind, offset)
        if how == OPAQUE:
            return Opaque(ref.full)
        # a class: copyreg's helpers rebuild the class named in their first argument
        if ref.module == "copyreg" and ref.name in ("_reconstructor", "__newobj__", "__newobj_ex__"):
            cls = args[0] if args else None
            if isinstance(cls, GlobalRef):
                self._called.add(id(cls))
                return self._foreign(cls, args[1:], "new-object", offset)
            if cls is Poison:
                return Poison
            raise PickleError(f"copyreg.{ref.name} rebuilds {_short(cls)}, not a class")
        if self.scripted is not None and self.scripted(ref):
            return ScriptObject(ref)
        if kind == "new-object" and _no_arguments(args) and self._rebuild(ref):
            return ScriptObject(ref, whole=True)
        if kind == "call" and self.enums is not None and self.enums(ref) and _one_scalar(args) and self._rebuild(ref):
            return args[0]  # an enumeration's member, pickled as its class called with its value: the value
        self.needs_code.append(ref)
        return Instance(ref)

    def _rebuild(self, ref: GlobalRef) -> bool:
        """Whether ``ref`` may be rebuilt (or left unimported) as a whole model's global; notes it if so."""
        if self.rebuildable is None or not self.rebuildable(ref):
            return False
        if ref.full not in {r.full for r in self.rebuilt[:MAX_REBUILT]} and len(self.rebuilt) < MAX_REBUILT:
            self.rebuilt.append(ref)
        return True

    def _build(self, obj: Any, state: Any, offset: int) -> None:
        if obj is Poison or isinstance(obj, Opaque):
            return
        if isinstance(obj, ScriptObject):
            if obj.whole and isinstance(state, tuple) and len(state) == 2:  # (__dict__, __slots__ values)
                parts = [s for s in state if s is not None]
                if all(type(s) is dict for s in parts):
                    state = {k: v for s in parts for k, v in s.items()}
            if type(state) is not dict or obj.state:
                if obj.whole:  # a state only the class's own __setstate__ understands
                    if obj.cls not in self.needs_code:
                        self.needs_code.append(obj.cls)
                    return
                raise PickleError(f"pickle sets the state of {obj!r} from a {type(state).__name__}, or twice")
            obj.state = state
            return
        if isinstance(obj, Instance):
            if obj.cls not in self.needs_code:
                self.needs_code.append(obj.cls)
            return
        if isinstance(obj, GlobalRef):  # setting attributes on an imported module object
            self._called.add(id(obj))
            self._threat(obj, "build", offset)
            return
        if type(obj).__name__ == "OrderedDict" and type(state) is dict and set(state) <= {"_metadata"}:
            # every module.state_dict() carries its _metadata (module versions) this way: dropped, its keys (the
            # modules' names) kept for the reader to judge as names
            meta = state.get("_metadata")
            if isinstance(meta, dict):
                room = MAX_MODULE_KEYS - len(self.module_keys)
                self.module_keys += [k for _, k in zip(range(max(0, room)), meta) if isinstance(k, str)]
            return
        if isinstance(obj, (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float)) or obj is None:
            raise PickleError(f"pickle sets the state of a {type(obj).__name__}")
        streamed = getattr(type(obj), "pickle_build_stream", None)
        if streamed is not None:  # a placeholder whose bytes follow its state in the stream (joblib's arrays)
            streamed(obj, state, self)
            return
        build = getattr(type(obj), "pickle_build", None)
        if build is not None:  # a placeholder of the reader's that takes a state (a numpy array's shape and bytes)
            build(obj, state)
            return
        # a placeholder of ours: harmless plain state is ignored, the placeholder is never changed
        if type(state) is not dict and type(state).__name__ != "OrderedDict":
            raise PickleError(f"pickle sets the state of {_short(obj)} from a {type(state).__name__}")

    # ------------------------------------------------------------------------------------------ the loop
    def run(self) -> Any:
        """The pickle's value (the top of the stack at STOP)."""
        with warnings.catch_warnings():  # pickletools warns about odd escapes in protocol-0 strings
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._run()

    def _run(self) -> Any:  # noqa: C901 (one branch per opcode, as in pickle.py)
        stack = self.stack
        try:
            # an opcode's argument is None only for opcodes that take none
            ops: Iterator[tuple[pickletools.OpcodeInfo, Any, Optional[int]]] = pickletools.genops(self.file)
            recent = self._recent.append
            for op, arg, pos in ops:
                self.ops += 1
                self.work += 1
                if self.work > self.budget:
                    self.charge(0)
                pos = pos or 0
                code = op.code
                recent((pos, op.name, arg))
                stack = self.stack
                if code in _PUSH_TEXT:  # numbers and text: the commonest opcodes first
                    if isinstance(arg, str):
                        self.charge(len(arg) // 64)
                        if len(arg) >= LITERAL_BYTES and len(self.literals) < MAX_LITERALS:
                            self.literals.append((pos, arg))
                    stack.append(arg)
                elif code in "qh":  # BINPUT, BINGET
                    if code == "q":
                        self._memoize(arg)
                    elif arg in self.memo:
                        stack.append(self.memo[arg])
                    else:
                        raise PickleError(f"memo key {_short(arg)} was never stored")
                elif code == "(":
                    self.metastack.append(stack)
                    self.stack = []
                elif code == ".":
                    return self._pop()
                elif code == "\x80":  # PROTO
                    if not 0 <= arg <= 5:
                        raise PickleError(f"unsupported pickle protocol {arg}")
                elif code == "\x95":  # FRAME
                    pass
                elif code in "STU":  # py2 str: bytes the writer meant as text (latin-1 decoded by genops)
                    raw = arg.encode("latin-1")
                    stack.append(raw.decode("utf-8", "surrogateescape"))
                elif code in "BC\x8e":
                    self.charge(len(arg) // 64)
                    if len(arg) >= LITERAL_BYTES and len(self.literals) < MAX_LITERALS:
                        self.literals.append((pos, arg))
                    stack.append(arg)
                elif code == "\x96":  # BYTEARRAY8
                    self.charge(len(arg) // 64)
                    stack.append(bytearray(arg))
                    if len(arg) >= LITERAL_BYTES and len(self.literals) < MAX_LITERALS:
                        self.literals.append((pos, stack[-1]))
                elif code == "\x88":
                    stack.append(True)
                elif code == "\x89":
                    stack.append(False)
                elif code == "0":
                    self._pop()
                elif code == "1":
                    self._pop_mark()
                elif code == "2":
                    stack.append(self._top())
                elif code in "pqr":  # PUT, BINPUT, LONG_BINPUT
                    if not isinstance(arg, int) or arg < 0:
                        raise PickleError(f"bad memo index {_short(arg)}")
                    self._memoize(arg)
                elif code == "\x94":  # MEMOIZE
                    self._memoize(len(self.memo))
                elif code in "ghj":
                    if arg not in self.memo:
                        raise PickleError(f"memo key {_short(arg)} was never stored")
                    stack.append(self.memo[arg])
                elif code == ")":
                    stack.append(self._tuple(()))
                elif code == "t":
                    items = self._pop_mark()
                    self.stack.append(self._tuple(items))
                elif code in "\x85\x86\x87":
                    n = ord(code) - 0x84
                    if len(stack) < n:
                        raise PickleError("pickle builds a tuple from an empty stack")
                    items = stack[-n:]
                    del stack[-n:]
                    stack.append(self._tuple(items))
                elif code == "]":
                    stack.append([])
                elif code == "l":
                    items = self._pop_mark()
                    self.charge(len(items))
                    self.stack.append(items)
                elif code == "a":
                    item = self._pop()
                    self._append(self._top(), [item])
                elif code == "e":
                    items = self._pop_mark()
                    self._append(self._top(), items)
                elif code == "}":
                    stack.append({})
                elif code == "d":
                    items = self._pop_mark()
                    d: dict[Any, Any] = {}
                    self._setitems(d, items)
                    self.stack.append(d)
                elif code == "s":
                    v = self._pop()
                    k = self._pop()
                    self._setitems(self._top(), [k, v])
                elif code == "u":
                    items = self._pop_mark()
                    self._setitems(self._top(), items)
                elif code == "\x8f":  # EMPTY_SET
                    stack.append(set())
                elif code == "\x90":  # ADDITEMS
                    items = self._pop_mark()
                    target = self._top()
                    if not isinstance(target, set):
                        raise PickleError(f"ADDITEMS on a {type(target).__name__}")
                    self._add(target, items)
                elif code == "\x91":  # FROZENSET
                    items = self._pop_mark()
                    s: set[Any] = set()
                    self._add(s, items)
                    self.stack.append(self._record_shape(frozenset(s)))
                elif code in "c\x93":  # GLOBAL, STACK_GLOBAL
                    if code == "c":
                        module, _, name = arg.partition(" ")
                    else:
                        name, module = self._pop(), self._pop()
                        if not (isinstance(module, str) and isinstance(name, str)):
                            raise PickleError("STACK_GLOBAL names a global with something other than text")
                    stack = self.stack
                    self.charge(len(module) + len(name))
                    value = self.resolve(module, name, pos)
                    if isinstance(value, GlobalRef):
                        self._globals.append(value)
                    stack.append(value)
                elif code == "R":  # REDUCE
                    args = self._pop()
                    func = self._pop()
                    self.stack.append(self._call(func, args, "call", pos))
                elif code == "\x81":  # NEWOBJ
                    args = self._pop()
                    cls = self._pop()
                    self.stack.append(self._new(cls, args, pos))
                elif code == "\x92":  # NEWOBJ_EX
                    kwargs = self._pop()
                    args = self._pop()
                    cls = self._pop()
                    if not isinstance(kwargs, dict):
                        raise PickleError("NEWOBJ_EX keyword arguments are not a dict")
                    self.stack.append(self._new(cls, args, pos))
                elif code == "i":  # INST
                    module, _, name = arg.partition(" ")
                    args = self._pop_mark()
                    value = self.resolve(module, name, pos)
                    if isinstance(value, GlobalRef):
                        self._globals.append(value)
                    self.stack.append(self._call(value, args, "instantiate", pos))
                elif code == "o":  # OBJ
                    items = self._pop_mark()
                    if not items:
                        raise PickleError("OBJ without a class")
                    self.stack.append(self._call(items[0], items[1:], "instantiate", pos))
                elif code == "b":  # BUILD
                    state = self._pop()
                    self._build(self._top(), state, pos)
                elif code in "PQ":  # PERSID, BINPERSID
                    pid = arg if code == "P" else self._pop()
                    if self.persistent_load is None:
                        raise PickleError("unexpected persistent id")
                    if self._poisoned(pid):
                        self.stack.append(Poison)
                    else:
                        self.stack.append(self.persistent_load(pid))
                elif code in "\x82\x83\x84":
                    raise PickleError("pickle uses the copyreg extension registry, which checkpoints never do")
                elif code in "\x97\x98":
                    raise PickleError("pickle uses out-of-band buffers, which checkpoints never do")
                else:  # pragma: no cover - genops knows no other opcode
                    raise PickleError(f"unsupported opcode {op.name}")
            raise PickleError("pickle ends before its STOP opcode")
        except RecursionError:
            raise PickleError("pickle nests objects too deeply") from None
        except MemoryError:
            raise BudgetError("pickle asks for more memory than is available") from None
        except UnicodeDecodeError as e:
            raise PickleError(f"text that is not valid UTF-8 ({e.reason})") from None
        except PickleError:
            raise
        except ValueError as e:  # genops: unknown opcode, truncated argument, bad number text
            raise PickleError(str(e)) from None

    def _memoize(self, index: int) -> None:
        if len(self.memo) >= MAX_MEMO and index not in self.memo:
            raise BudgetError(f"pickle stores more than {MAX_MEMO:,} memo entries")
        self.memo[index] = self._top()

    def _new(self, cls: Any, args: Any, pos: int) -> Any:
        if cls is Poison:
            return Poison
        if isinstance(cls, GlobalRef):
            self._called.add(id(cls))
            if not isinstance(args, tuple):
                raise PickleError("NEWOBJ arguments are not a tuple")
            how = self.classify(cls)
            if how == DANGER:
                return self._threat(cls, "new-object", pos)
            if how == OPAQUE:
                return Opaque(cls.full)
            if self.scripted is not None and self.scripted(cls):
                return ScriptObject(cls)
            if _plain_data(args) and self._rebuild(cls):  # cls.__new__(cls, *plain values): the allocation
                return ScriptObject(cls, whole=True)
            self.needs_code.append(cls)
            return Instance(cls)
        made = getattr(cls, "pickle_new", None)
        if made is not None and not args:  # a placeholder class of the reader's (joblib's array wrapper)
            return made()
        if cls in (set, frozenset) or type(cls).__name__ == "type":
            return self._call(cls, args, "call", pos)
        raise PickleError(f"NEWOBJ on {_short(cls)}, not a class")

    def _append(self, target: Any, items: list[Any]) -> None:
        self.charge(len(items))
        if isinstance(target, list):
            target.extend(items)
        elif target is Poison or isinstance(target, (Instance, Opaque, ScriptObject)):
            return  # list-like objects of foreign classes: nothing of ours to extend
        else:
            raise PickleError(f"APPEND to a {type(target).__name__}")

    def _setitems(self, target: Any, items: list[Any]) -> None:
        if len(items) % 2:
            raise PickleError("SETITEMS with an odd number of items")
        self.charge(len(items))
        if target is Poison or isinstance(target, (Instance, Opaque, ScriptObject)):
            return
        if not isinstance(target, dict):
            raise PickleError(f"SETITEM on a {type(target).__name__}")
        for i in range(0, len(items), 2):
            key = items[i]
            self._hash_cost(key)
            try:
                target[key] = items[i + 1]
            except TypeError as e:
                raise PickleError(f"dict key: {e}") from None

    def _add(self, target: set[Any], items: list[Any]) -> None:
        self.charge(len(items))
        for item in items:
            self._hash_cost(item)
            try:
                target.add(item)
            except TypeError as e:
                raise PickleError(f"set item: {e}") from None

    def finish(self) -> None:
        """After STOP: globals that were named but never called are still imported by ``pickle.load``."""
        for ref in self._globals:
            if id(ref) in self._called:
                continue
            if self.classify(ref) == DANGER:
                self.threats.append(RecordedThreat(ref.module, ref.name, "reference", ref.offset, ()))
            elif self.classify(ref) != OPAQUE and ref not in self.needs_code and not self._rebuild(ref):
                self.needs_code.append(ref)
