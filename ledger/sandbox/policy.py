"""Compile-time policy for chaincode: RestrictedPython plus our own AST passes.

Order of passes on the parsed module:
1. ``_Precheck`` refuses constructs whose behaviour is not deterministic or not meterable:
   classes, ``global``/``nonlocal``, generator functions (their clean-up runs at garbage
   collection time), ``with``, set literals/comprehensions (string hashing is randomised per
   process, so set iteration order differs between nodes), f-string format specs (unbounded
   padding), ``%`` formatting of strings, and imports outside the allow-list.
2. RestrictedPython's transformer: no names or attributes starting with ``_``, attribute
   access through ``_getattr_``, item access through ``_getitem_``, iteration through
   ``_getiter_``, writes through ``_write_``.
3. ``_Instrumenter`` injects the deterministic meter: one step per loop iteration, per
   comprehension item and per call; a call-depth counter around every function body; size
   guards around ``+``, ``-``, ``*``, ``/``, ``//``, ``%``, ``**`` and ``<<`` so huge
   allocations and integers are refused before they happen and big-integer arithmetic pays
   for its (superlinear) work; charges for the nested values that comparisons, ``in``,
   dict keys and f-string fields make C code walk (see ``cost.py``).
"""

from __future__ import annotations

import ast
import warnings

from RestrictedPython import compile_restricted
from RestrictedPython.transformer import RestrictingNodeTransformer

# Host modules and the names each one offers (``ledger/sandbox/runtime.py`` implements them).
HOST_FUNCTIONS: dict[str, frozenset[str]] = {
    "math": frozenset({"gcd", "isqrt", "floor", "ceil"}),
    "json": frozenset({"dumps", "loads"}),
    "hashing": frozenset({"sha256"}),
}
ALLOWED_IMPORTS = frozenset(HOST_FUNCTIONS)
# Statements and expressions nested deeper than this are refused before any recursive pass
# runs over the tree: the parser's and the compiler's own limits depend on the host stack.
MAX_AST_DEPTH = 120
# Checking and instrumenting is Python-level work per tree node (RestrictedPython and our
# passes): measured 8-24 us per node on the loaded development machine, so a node costs
# STEPS_PER_NODE steps (paid before the passes run) and a module has at most MAX_AST_NODES,
# which keeps the largest install within one call's budget and under a second.
MAX_AST_NODES = 20_000
STEPS_PER_NODE = 8

# Binary operators that can allocate a lot, build huge integers, do superlinear work on
# big integers (division is quadratic), or walk big operands in C: bitwise operators on big
# integers, and |, &, ^, - on dicts and dict views, which hash every element into a new
# set or dict. Only @ is left alone: no value a contract can make supports it.
GUARDED_BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Mod: "%",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}
MAX_INT_LITERAL_BITS = 65_536  # runtime.MAX_INT_BITS: larger literals are refused

# Names the instrumenter injects; they live in the chaincode's globals.
STEP = "_step_"
STEP_TRUE = "_stept_"
CALL = "_call_"
ENTER = "_enter_"
LEAVE = "_leave_"
BINOP = "_binop_"
FMT = "_fmt_"
FSTRING = "_fstring_"
SIZED = "_sized_"  # charges for the (nested) values C code is about to walk
KEY = "_key_"  # charges for hashing a dict key
CONTAINS = "_contains_"  # `a in b` as _contains_(a, b): a hash lookup or a scan
UNOP = "_unop_"  # -x, +x, ~x: big integers are copied
LITERAL = "_literal_"  # list/tuple/dict displays of many elements: a new object each time
LITERAL_FREE = 16  # displays with fewer elements are covered by the step of their statement
CAUGHT = "_caught_"  # first statement of except/finally blocks
UNARY_OPS: dict[type, str] = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}


class _Precheck(ast.NodeVisitor):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors

    def _deny(self, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", 0)
        self.errors.append(f"Line {line}: {message}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._deny(node, "class definitions are not allowed")

    def visit_Global(self, node: ast.Global) -> None:
        self._deny(node, "global statements are not allowed (state lives in ctx)")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._deny(node, "nonlocal statements are not allowed")

    def visit_Yield(self, node: ast.Yield) -> None:
        self._deny(node, "generator functions are not allowed")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self._deny(node, "generator functions are not allowed")

    def visit_With(self, node: ast.With) -> None:
        self._deny(node, "with statements are not allowed")

    def visit_Set(self, node: ast.Set) -> None:
        self._deny(node, "sets are not allowed (iteration order is not deterministic)")

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._deny(node, "set comprehensions are not allowed (order is not deterministic)")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("print", "printed"):
            self._deny(node, "print is not available (emit events with ctx.emit)")

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        if node.format_spec is not None:
            self._deny(node, "f-string format specs are not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if type(value) is int and value.bit_length() > MAX_INT_LITERAL_BITS:
            self._deny(node, f"integer literals are limited to {MAX_INT_LITERAL_BITS} bits")
        elif type(value) in (float, complex):
            self._deny(node, "float literals are not allowed (use integers)")
        elif type(value) is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self._deny(node, "string literals must be valid UTF-8 (no lone surrogates)")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Div):
            self._deny(node, "/ makes a float (floats are not allowed): use //")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.Div):
            self._deny(node, "/= makes a float (floats are not allowed): use //=")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_IMPORTS:
                self._deny(node, f"import of {alias.name!r} is not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or node.module not in ALLOWED_IMPORTS:
            self._deny(node, f"import from {node.module!r} is not allowed")
            return
        for alias in node.names:
            if alias.name not in HOST_FUNCTIONS[node.module]:
                self._deny(node, f"{node.module}.{alias.name} is not available")


def ast_shape(tree: ast.AST) -> tuple[int, int]:
    """(depth, nodes) of the tree, walked without recursion; stops past either limit."""
    deepest = nodes = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > deepest:
            deepest = depth
        if deepest > MAX_AST_DEPTH or nodes > MAX_AST_NODES:
            break
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest, nodes


def source_nodes(source: str) -> int:
    """Tree nodes of ``source`` (what compiling it costs), or 0 if it does not parse; the
    count stops just past MAX_AST_NODES."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0
    return ast_shape(tree)[1]


def _name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(name), args=list(args), keywords=[])


class _Instrumenter(ast.NodeTransformer):
    def _loop(self, node: ast.For | ast.While) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, ast.Expr(_call(STEP)))
        return node

    visit_For = _loop
    visit_While = _loop

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, _call(STEP_TRUE))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        guarded = ast.Try(
            body=node.body, handlers=[], orelse=[], finalbody=[ast.Expr(_call(LEAVE))]
        )
        node.body = [ast.Expr(_call(ENTER)), guarded]
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        # No try/finally in an expression: _leave_(_enter_(), body) decrements only on a
        # normal return. A raising lambda leaks one depth level, identically on every node.
        self.generic_visit(node)
        node.body = _call(LEAVE, _call(ENTER), node.body)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name) and func.id.startswith("_"):
            return node  # host helpers injected by RestrictedPython or by us
        node.func = _call(CALL, func)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        op = GUARDED_BINOPS.get(type(node.op))
        if op is None:
            return node
        return _call(BINOP, ast.Constant(op), node.left, node.right)

    def _display(self, node: ast.expr, size: int) -> ast.AST:
        if size < LITERAL_FREE or isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
            return node
        return _call(LITERAL, ast.Constant(size), node)

    def visit_List(self, node: ast.List) -> ast.AST:
        self.generic_visit(node)
        return self._display(node, len(node.elts))

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        self.generic_visit(node)
        return self._display(node, len(node.elts))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        op = UNARY_OPS.get(type(node.op))
        if op is None or isinstance(node.operand, ast.Constant):
            return node  # `not x`; negative literals are folded by the compiler
        return _call(UNOP, ast.Constant(op), node.operand)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, ast.Expr(_call(CAUGHT)))
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST:
        self.generic_visit(node)
        if node.finalbody:
            node.finalbody.insert(0, ast.Expr(_call(CAUGHT)))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        # _fmt_ applies the !s/!r/!a conversion itself and returns the text, so what the
        # f-string concatenates has been checked and paid for.
        self.generic_visit(node)
        node.value = _call(FMT, node.value, ast.Constant(node.conversion))
        node.conversion = -1
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        self.generic_visit(node)
        return _call(FSTRING, node)  # the fields are paid for; the total is size-checked

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            test = _call(CONTAINS, node.left, node.comparators[0])
            return ast.UnaryOp(ast.Not(), test) if isinstance(node.ops[0], ast.NotIn) else test
        if not all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            # chains (and `in` inside chains): every operand pays for its nested size
            node.left = _call(SIZED, node.left)
            node.comparators = [_call(SIZED, c) for c in node.comparators]
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        node.value = _call(SIZED, node.value)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        node.values = [_call(SIZED, v) if k is None else v
                       for k, v in zip(node.keys, node.values, strict=True)]
        node.keys = [_key(k) for k in node.keys]
        return self._display(node, len(node.keys))

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        self.generic_visit(node)
        node.key = _key(node.key)
        return node


def _key(node: ast.expr | None) -> ast.expr | None:
    """Wrap a dict key expression (hashing walks it) unless it is a constant or ``**``."""
    if node is None or isinstance(node, ast.Constant):
        return node
    return _call(KEY, node)


class ChaincodePolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy wrapped by our pre-check and instrumentation passes."""

    def visit_Module(self, node: ast.Module) -> ast.AST:
        depth, nodes = ast_shape(node)
        if depth > MAX_AST_DEPTH:
            self.errors.append(f"Line 1: code is nested deeper than {MAX_AST_DEPTH} levels")
            return node
        if nodes > MAX_AST_NODES:
            self.errors.append(f"Line 1: code has more than {MAX_AST_NODES} syntax nodes")
            return node
        _Precheck(self.errors).visit(node)
        node = super().visit_Module(node)
        if not self.errors:
            _Instrumenter().visit(node)
            ast.fix_missing_locations(node)
        return node


def compile_source(source: str, filename: str) -> object:
    """Compile chaincode; raises SyntaxError whose args[0] lists every violation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # RestrictedPython's print hints
        return compile_restricted(source, filename=filename, mode="exec",
                                  policy=ChaincodePolicy)
