"""The numpy 2 removed-names signal's text search (envdoctor.checks.signals.numpy_names)."""

from __future__ import annotations

from envdoctor.checks.signals import numpy_names


def test_attribute_search_finds_what_the_boundary_pattern_finds() -> None:
    """The faster search (from each ``n``, the boundary checked after) gives _ATTR's matches, also where a
    rejected match overlaps a real one (``xnp.np.float_``)."""
    for source in (b"np.float_ x", b"xnp.np.float_", b"numpy.np.x", b"_np.a np.b\nnumpy.c", b"np.", b""):
        expected = [m.span() for m in numpy_names._ATTR.finditer(source)]
        assert [m.span() for m in numpy_names._attr_matches(source)] == expected, source
