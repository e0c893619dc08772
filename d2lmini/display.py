"""How the chapter's figures appear in Jupyter: SVG whose labels are text.

The book shows its plots as SVG, as the published book does. With matplotlib's
``svg.fonttype`` set to ``"none"`` every axis label, title, legend entry and
tick is a ``<text>`` element rather than drawn outlines, so a stored plot
stays sharp at any zoom, its words can be searched and copied, and the
translated editions replace them from their catalogs (tools/translate.py)
without running the notebook again. ``import d2lmini`` calls
:func:`use_svg_display` inside a Jupyter kernel; scripts are left alone.
"""
import matplotlib

__all__ = ["use_svg_display", "SVG_RC"]

# Text as text; the same ids at every run, no creation date: a run that
# draws the same figure stores the same bytes.
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "d2lmini"}


def use_svg_display() -> None:
    """Show this kernel's matplotlib figures as SVG with text labels."""
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    matplotlib.rcParams.update(SVG_RC)
    set_matplotlib_formats("svg", metadata={"Date": None})


def svg_bytes(fig) -> bytes:
    """``fig`` as SVG the way :func:`use_svg_display` shows it."""
    import io

    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
