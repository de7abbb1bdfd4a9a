"""Each page's lead: what the page shows and what to try first, for a newcomer; a returning visitor
folds it away (the browser remembers, assets/descent.js)."""

from __future__ import annotations

from dataclasses import dataclass

from dash import html

from dashboard.state import COMPARE, LANDSCAPE, SWEEP, TOY


@dataclass(frozen=True, slots=True)
class Lead:
    title: str  # one line, always shown: what the page is
    what: str  # what the figures are
    first: str  # what to try first


LEADS: dict[str, Lead] = {
    TOY: Lead(
        "One neuron, y = w·x + b, fitted to noisy points of a parabola: every step is torch's own.",
        "The map is the loss at every (w, b); the line across it is the path torch.optim takes from the "
        "start point, step by step (▶ plays it). Below: the loss per step and the fitted line. Under "
        "Problem, a classic surface (Rosenbrock, Rastrigin, Beale, Himmelblau, a saddle, a quadratic) or "
        "a formula of your own takes the neuron's place: the map is then f(x, y).",
        "Pick a preset (the first panel of the controls, on the neuron) and read what it shows; then move lr and watch the "
        "path follow. Click the map to start from elsewhere."),
    COMPARE: Lead(
        "Up to four runs, any optimizer and settings, over one loss map.",
        "Each run card in the controls is one run; the map, the loss curve and the fitted lines show them "
        "together, each in its card's colour.",
        "Start with the defaults (SGD with momentum against Adam); then drag a card's lr slider and watch "
        "its path move while you drag."),
    SWEEP: Lead(
        "Thousands of runs at once: one run per cell of the map.",
        "Each cell is a whole training run at those two hyperparameter values (lr across, momentum up, by "
        "default), coloured by what it measures; red cells diverged, and the line is where theory says "
        "runs start to diverge.",
        "Look where the red begins against the line; then click a cell to open that run in the toy lab."),
    LANDSCAPE: Lead(
        "A real network's loss around its trained weights, after Li et al. (2018).",
        "Train & draw trains a small network on digits, then draws its loss across a plane of two "
        "directions scaled filter by filter; the sharpness view follows the Hessian's largest eigenvalue "
        "during training against 2/lr, the edge of stability.",
        "Press Train & draw with the defaults (seconds); then change the normalization, or compare batch "
        "sizes in the view A vs B."),
}


def lead(page: str) -> html.Details:
    """The page's lead, open until its reader folds it (``data-lead``: remembered per page)."""
    row = LEADS[page]
    return html.Details([html.Summary(row.title, className="lead-title"),
                         html.P([row.what, " ", html.Strong("Try first: "), row.first], className="lead-text")],
                        open=True, className="lead", **{"data-lead": page})
