"""Moving an explorer's controls in a real browser: shared by the HTML-book and JupyterLab tests."""


# What an explorer shows: its SVG markup, or its canvas pixels (JupyterLab draws on a canvas).
CHART_STATE = """el => {
    const svg = el.querySelector('svg.marks');
    if (svg) return svg.innerHTML;
    const canvas = el.querySelector('canvas');
    return canvas ? canvas.toDataURL() : null;
}"""


def change_first_control(page, embed, timeout_s=20):
    """Move the first control of a drawn explorer (`embed`: the element holding its chart and its
    controls) from the keyboard, or pick another menu entry; fail unless the chart changes.
    Returns a description of the move."""
    embed.locator("svg.marks, canvas").first.wait_for(timeout=timeout_s * 1000)
    control = embed.locator(".vega-bind input, .vega-bind select").first
    control.wait_for(timeout=timeout_s * 1000)
    label = control.evaluate(
        "c => c.closest('.vega-bind').querySelector('.vega-bind-name').innerText.trim()")
    before = embed.evaluate(CHART_STATE)
    kind = control.evaluate("c => c.tagName === 'SELECT' ? 'select' : c.type")
    if kind == "range":
        at_max = control.evaluate("c => Number(c.value) >= Number(c.max)")
        control.focus()
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    elif kind == "checkbox":
        control.focus()
        page.keyboard.press("Space")
    elif kind == "select":
        values = control.evaluate("c => [...c.options].map(o => o.value)")
        current = control.input_value()
        control.select_option(next(v for v in values if v != current))
    else:
        raise AssertionError(f"explorer control {label!r} is a {kind}, not a range, checkbox "
                             "or menu")
    value = control.evaluate("c => c.type === 'checkbox' ? String(c.checked) : c.value")
    try:
        page.wait_for_function(f"([el, before]) => ({CHART_STATE})(el) !== before",
                               arg=[embed.element_handle(), before], timeout=timeout_s * 1000)
    except Exception:
        raise AssertionError(f"explorer chart unchanged after {label} -> {value} ({kind}); "
                             f"chart state {str(before)[:80]}") from None
    return f"{label} -> {value}"
