"""Survey results: counts in SQL, figures shaped with pandas, and suppression of small groups.

A wave's **cube** is three small tables counted by the database: answers per (question,
department, location, value), responses per (department, location), and people asked per
(department, location). Every figure on the result, trend, insight and export pages comes from
cubes, so no page reads individual answers (free text aside, which is shuffled and shown only
for groups at or above the threshold). A closed wave's cube is kept on the wave (it cannot
change any more; reopening forgets it) and equals a fresh count (tested).

Formulas:

* eNPS = % promoters (9-10) − % detractors (0-6) of those who answered the eNPS question;
  skipped answers are outside the base and counted apart.
* Its 95 % confidence interval: each answer scores +1 (promoter), 0 (passive) or −1
  (detractor); with shares p and d, the variance of one score is p + d − (p − d)², the
  standard error of the mean is sqrt(variance / n), and the interval is
  eNPS ± 1.96 × 100 × standard error (a normal approximation; worked example in the tests:
  n = 100, 25 promoters, 20 detractors → +5, [−8.1, +18.1]).
* Likert and rating questions: the mean (1-5) and % favourable = share of answers 4 or 5.

Suppression (``suppressed``): within one breakdown (departments, or locations) every group with
answers but fewer than the threshold is hidden; if that leaves one hidden group, or hidden
groups whose answers add up to fewer than the threshold, the smallest visible groups are hidden
too until they add up to at least the threshold, so that the total minus the visible groups
never reveals a small group. Groups are never filtered by department and location together.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

import flask
import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.extensions import db
from app.timeutil import utcnow
from surveys.models import SCALE_KINDS, TEXT_KINDS, Answer, Participation, Question, Response, Survey, Wave, WaveInvitee

Z95 = 1.96
ANSWER_COLUMNS = ["question_id", "department_id", "location_id", "value", "n"]
GROUP_COLUMNS = ["department_id", "location_id", "n"]
MAX_TEXTS = 200


# --- counting ----------------------------------------------------------------------------------


def count_cube(wave_id: int, texts: bool = True) -> dict:
    """The wave's counts, fresh from the database (GROUP BY queries over indexed columns).

    ``texts=False`` leaves out the count of written answers (the trend shows none).
    """
    answers = db.session.execute(
        select(Answer.question_id, Answer.department_id, Answer.location_id, Answer.value, func.count())
        .where(Answer.wave_id == wave_id, Answer.value.is_not(None))
        .group_by(Answer.question_id, Answer.department_id, Answer.location_id, Answer.value)
    ).all()
    responses = db.session.execute(
        select(Response.department_id, Response.location_id, func.count())
        .where(Response.wave_id == wave_id)
        .group_by(Response.department_id, Response.location_id)
    ).all()
    invited = db.session.execute(
        select(WaveInvitee.department_id, WaveInvitee.location_id, func.count())
        .where(WaveInvitee.wave_id == wave_id)
        .group_by(WaveInvitee.department_id, WaveInvitee.location_id)
    ).all()
    texts = (
        []
        if not texts
        else db.session.execute(
            select(Answer.question_id, Answer.department_id, Answer.location_id, func.count())
            # A text answer is the one kind without a value: "value IS NULL" is answered from
            # ix_answer_counts alone, "text IS NOT NULL" read every answer row of the wave (1.3 s at 25,000).
            .where(Answer.wave_id == wave_id, Answer.value.is_(None))
            .group_by(Answer.question_id, Answer.department_id, Answer.location_id)
        ).all()
    )
    return {
        "answers": sorted([list(r) for r in answers], key=_sort_key),
        "responses": sorted([list(r) for r in responses], key=_sort_key),
        "invited": sorted([list(r) for r in invited], key=_sort_key),
        "texts": sorted([list(r) for r in texts], key=_sort_key),
    }


def _sort_key(row) -> tuple:
    return tuple((-1 if v is None else v) for v in row)


def keep_cube(wave: Wave, now: datetime | None = None) -> dict:
    """Count a closed wave once and keep the counts on it."""
    cube = count_cube(wave.id)
    wave.cube = cube
    db.session.flush()
    return cube


def cube_of(wave: Wave, now: datetime | None = None) -> dict:
    """A closed wave's kept counts (counted now if not yet kept), an open wave's fresh counts.

    An open wave is counted once per request: a page asks for it several times (figures,
    heatmaps, texts, insight).
    """
    now = now or utcnow()
    if wave.is_closed(now):
        return wave.cube if wave.cube is not None else keep_cube(wave, now)
    if not flask.has_request_context():
        return count_cube(wave.id)
    counted = flask.g.setdefault("herald_survey_cubes", {})
    if wave.id not in counted:
        counted[wave.id] = count_cube(wave.id)
    return counted[wave.id]


@dataclass
class Cube:
    """One wave's counts as data frames."""

    answers: pd.DataFrame
    responses: pd.DataFrame
    invited: pd.DataFrame
    texts: pd.DataFrame

    @classmethod
    def of(cls, raw: dict) -> Cube:
        def frame(rows, columns):
            df = pd.DataFrame(rows, columns=columns)
            for col in ("department_id", "location_id"):
                if col in df:
                    df[col] = df[col].astype("Int64")
            return df

        return cls(
            frame(raw["answers"], ANSWER_COLUMNS),
            frame(raw["responses"], GROUP_COLUMNS),
            frame(raw["invited"], GROUP_COLUMNS),
            frame(raw.get("texts", []), ["question_id", "department_id", "location_id", "n"]),
        )

    def where(self, by: str | None, group) -> Cube:
        """The counts of one department or location (``by`` is "department_id" or "location_id")."""
        if by is None:
            return self

        def pick(df):
            col = df[by]
            return df[col.isna()] if group is None else df[col == group]

        return Cube(pick(self.answers), pick(self.responses), pick(self.invited), pick(self.texts))

    def among(self, by: str, groups) -> Cube:
        """The counts of several departments (or locations) together (no group without one)."""
        keep = list(groups)

        def pick(df):
            return df[df[by].isin(keep)]

        return Cube(pick(self.answers), pick(self.responses), pick(self.invited), pick(self.texts))

    def sizes(self, by: str) -> dict:
        """Responses per group of ``by`` (None is the group without a department or location)."""
        out: dict = {}
        for key, n in self.responses.groupby(by, dropna=False)["n"].sum().items():
            out[None if pd.isna(key) else int(key)] = int(n)
        for key in self.invited[by].unique():
            out.setdefault(None if pd.isna(key) else int(key), 0)
        return out

    @property
    def n(self) -> int:
        return int(self.responses["n"].sum())

    @property
    def invited_n(self) -> int:
        return int(self.invited["n"].sum())


# --- suppression -------------------------------------------------------------------------------


def suppressed(sizes: dict, threshold: int) -> set:
    """The groups to hide in one breakdown (see the module docstring for the rule)."""
    hidden = {k for k, n in sizes.items() if 0 < n < threshold}
    if not hidden:
        return hidden
    visible = sorted(((n, str(k)), k) for k, n in sizes.items() if n > 0 and k not in hidden)
    total_hidden = sum(sizes[k] for k in hidden)
    while visible and (len(hidden) < 2 or total_hidden < threshold):
        (n, _name), key = visible.pop(0)
        hidden.add(key)
        total_hidden += n
    return hidden


# --- figures -----------------------------------------------------------------------------------


@dataclass
class Enps:
    score: float
    promoters: float  # percentages of the base
    passives: float
    detractors: float
    base: int
    skipped: int
    low: float
    high: float


def enps(counts: dict[int, int], skipped: int = 0) -> Enps | None:
    """eNPS from a {score 0-10: answers} table (formula and interval: the module docstring)."""
    base = sum(counts.values())
    if base == 0:
        return None
    p = sum(n for v, n in counts.items() if v >= 9) / base
    d = sum(n for v, n in counts.items() if v <= 6) / base
    score = 100 * (p - d)
    se = math.sqrt(max(p + d - (p - d) ** 2, 0.0) / base)
    margin = Z95 * 100 * se
    return Enps(
        score=score, promoters=100 * p, passives=100 * (1 - p - d), detractors=100 * d, base=base,
        skipped=skipped, low=max(-100.0, score - margin), high=min(100.0, score + margin),
    )  # fmt: skip


@dataclass
class Scale:
    mean: float
    favourable: float  # % answers 4-5
    base: int
    counts: list[int]  # answers 1..5


def scale(counts: dict[int, int]) -> Scale | None:
    base = sum(counts.values())
    if base == 0:
        return None
    mean = sum(v * n for v, n in counts.items()) / base
    fav = 100 * sum(n for v, n in counts.items() if v >= 4) / base
    return Scale(mean=mean, favourable=fav, base=base, counts=[counts.get(v, 0) for v in range(1, 6)])


@dataclass
class QuestionResult:
    question: Question
    base: int = 0
    enps: Enps | None = None
    scale: Scale | None = None
    options: list[tuple[str, int, float]] = field(default_factory=list)  # (label, answers, % of responses)
    texts: int = 0
    change: float | None = None  # eNPS points or % favourable points since the previous wave


@dataclass
class GroupCell:
    """One heatmap cell: a figure, or why there is none."""

    value: float | None
    n: int
    hidden: bool = False
    note: str = ""


@dataclass
class WaveResult:
    wave: Wave
    threshold: int
    hidden: bool  # the view as a whole is below the threshold
    responses: int
    invited: int
    questions: list[QuestionResult]
    dimensions: list[tuple[str, Scale | None, float | None]]  # name, pooled scale, change
    enps: Enps | None
    enps_change: float | None
    heatmap_departments: tuple[list[str], list[str], list[list[GroupCell]]] | None = None
    heatmap_locations: tuple[list[str], list[str], list[list[GroupCell]]] | None = None

    @property
    def rate(self) -> float | None:
        return 100 * self.responses / self.invited if self.invited else None


def _value_counts(answers: pd.DataFrame, question_id: int) -> dict[int, int]:
    rows = answers[answers["question_id"] == question_id]
    if rows.empty:
        return {}
    return {int(v): int(n) for v, n in rows.groupby("value")["n"].sum().items()}


def _figures(cube: Cube, questions: list[Question], names) -> tuple[list[QuestionResult], dict, Enps | None]:
    """Per-question figures, the dimensions' pooled counts and the (first) eNPS question's figure."""
    results, pooled, first_enps = [], {}, None
    responses = cube.n
    text_counts = cube.texts.groupby("question_id")["n"].sum().to_dict() if not cube.texts.empty else {}
    for q in questions:
        counts = _value_counts(cube.answers, q.id)
        r = QuestionResult(question=q, base=sum(counts.values()))
        if q.kind == "enps":
            r.enps = enps(counts, skipped=max(responses - r.base, 0))
            if first_enps is None:
                first_enps = r.enps
        elif q.kind in SCALE_KINDS:
            r.scale = scale(counts)
            key = names(q)
            bucket = pooled.setdefault(key, {})
            for v, n in counts.items():
                bucket[v] = bucket.get(v, 0) + n
        elif q.kind in TEXT_KINDS:
            r.texts = int(text_counts.get(q.id, 0))
            r.base = r.texts
        else:
            opts = q.options or []
            r.options = [(label, counts.get(i, 0), 100 * counts.get(i, 0) / responses if responses else 0.0)
                         for i, label in enumerate(opts)]  # fmt: skip
        results.append(r)
    return results, pooled, first_enps


def previous_wave(wave: Wave) -> Wave | None:
    return db.session.scalar(
        select(Wave)
        .where(Wave.survey_id == wave.survey_id, Wave.number < wave.number)
        .order_by(Wave.number.desc())
        .limit(1)
    )


def _heatmap(cube: Cube, by: str, questions, labels: dict, threshold: int, names) -> tuple | None:
    sizes = cube.sizes(by)
    if len(sizes) < 2:
        return None
    hidden = suppressed(sizes, threshold)
    groups = sorted(sizes, key=lambda k: (k is None, str(labels.get(k, ""))))
    dims = []
    for q in questions:
        if q.kind in SCALE_KINDS and names(q) not in dims:
            dims.append(names(q))
    rows_labels = [*dims, "eNPS"] if any(q.kind == "enps" for q in questions) else dims
    favourable, scores = _group_figures(cube, by, questions, names)
    cells: list[list[GroupCell]] = []
    for row in rows_labels:
        line = []
        for g in groups:
            n = sizes[g]
            if n == 0:
                line.append(GroupCell(None, 0, hidden=False, note=_("No answers")))
                continue
            if g in hidden:
                note = (_("Fewer than %(n)d answers", n=threshold) if n < threshold
                        else _("Hidden so that a smaller group cannot be worked out"))  # fmt: skip
                line.append(GroupCell(None, n, hidden=True, note=note))
                continue
            line.append(GroupCell(scores.get(g) if row == "eNPS" else favourable.get((g, row)), n))
        cells.append(line)
    nobody = _("No department") if by == "department_id" else _("No location")
    return rows_labels, [str(labels.get(g) or nobody) for g in groups], cells


def _group_figures(cube: Cube, by: str, questions, names) -> tuple[dict, dict]:
    """% favourable per (group, dimension) and eNPS per group, in one pass of grouped sums."""
    a = cube.answers
    if a.empty:
        return {}, {}
    group = a[by].fillna(-1).astype("int64")  # -1: people without a department (or location)
    dims = {q.id: names(q) for q in questions if q.kind in SCALE_KINDS}
    first_enps = next((q.id for q in questions if q.kind == "enps"), None)
    favourable: dict = {}
    rows = a["question_id"].isin(list(dims))
    if rows.any():
        frame = pd.DataFrame({
            "g": group[rows], "dim": a.loc[rows, "question_id"].map(dims),
            "fav": a.loc[rows, "n"].where(a.loc[rows, "value"] >= 4, 0), "n": a.loc[rows, "n"],
        })  # fmt: skip
        for (g, dim), fav, n in frame.groupby(["g", "dim"])[["fav", "n"]].sum().itertuples(name=None):
            if n:
                favourable[(None if g == -1 else int(g), dim)] = 100 * fav / n
    scores: dict = {}
    rows = a["question_id"] == first_enps
    if first_enps is not None and rows.any():
        v, n = a.loc[rows, "value"], a.loc[rows, "n"]
        frame = pd.DataFrame({"g": group[rows], "p": n.where(v >= 9, 0), "d": n.where(v <= 6, 0), "n": n})
        for g, p, d, n in frame.groupby("g")[["p", "d", "n"]].sum().itertuples(name=None):
            if n:
                scores[None if g == -1 else int(g)] = 100 * (p - d) / n
    return favourable, scores


def view_hidden(cube: Cube, by: str | None, group, threshold: int) -> bool:
    """Whether the view of one group (or the whole wave) must be suppressed."""
    if by is None:
        return 0 < cube.n < threshold
    return group in suppressed(cube.sizes(by), threshold) or cube.where(by, group).n < threshold


def wave_result(wave: Wave, by: str | None = None, group=None, now: datetime | None = None,
                labels: dict | None = None) -> WaveResult:  # fmt: skip
    """Everything the result page shows for one wave, optionally for one department or location."""
    from surveys.services import dimension_name

    now = now or utcnow()
    survey: Survey = wave.survey
    threshold = survey.threshold
    full = Cube.of(cube_of(wave, now))
    cube = full.where(by, group)
    questions = list(survey.questions)

    def names(q):
        return dimension_name(q.dimension)

    hidden = view_hidden(full, by, group, threshold) or cube.n < threshold
    results, pooled, e = _figures(cube, questions, names)
    before = previous_wave(wave)
    prev_results, prev_pooled, prev_e = ([], {}, None)
    if before is not None:
        prev_full = Cube.of(cube_of(before, now))
        if not view_hidden(prev_full, by, group, threshold):
            prev_results, prev_pooled, prev_e = _figures(prev_full.where(by, group), questions, names)
    prev_by_q = {r.question.id: r for r in prev_results}
    for r in results:
        p = prev_by_q.get(r.question.id)
        if p is None:
            continue
        if r.enps and p.enps:
            r.change = r.enps.score - p.enps.score
        elif r.scale and p.scale:
            r.change = r.scale.favourable - p.scale.favourable
    dims = []
    for name, counts in pooled.items():
        s, p = scale(counts), scale(prev_pooled.get(name, {}))
        dims.append((name, s, (s.favourable - p.favourable) if s and p else None))
    result = WaveResult(
        wave=wave, threshold=threshold, hidden=hidden, responses=cube.n, invited=cube.invited_n,
        questions=results, dimensions=dims, enps=e, enps_change=(e.score - prev_e.score) if e and prev_e else None,
    )  # fmt: skip
    if hidden:
        result.questions, result.dimensions, result.enps, result.enps_change = [], [], None, None
        return result
    if by is None and labels is not None:
        result.heatmap_departments = _heatmap(full, "department_id", questions, labels["departments"], threshold,
                                              names)  # fmt: skip
        result.heatmap_locations = _heatmap(full, "location_id", questions, labels["locations"], threshold, names)
    return result


def free_texts(wave: Wave, question: Question, by: str | None = None, group=None,
               now: datetime | None = None) -> list[tuple[str, str | None]]:  # fmt: skip
    """A question's free-text answers, shuffled; empty when the view is below the threshold.

    Names come with them only in confidential surveys (HR sees them; employees were told).
    """
    full = Cube.of(cube_of(wave, now or utcnow()))
    if view_hidden(full, by, group, wave.survey.threshold) or full.where(by, group).n < wave.survey.threshold:
        return []
    stmt = select(Answer.text, Answer.response_key).where(
        Answer.wave_id == wave.id, Answer.question_id == question.id, Answer.text.is_not(None)
    )
    if by is not None:
        column = getattr(Answer, by)
        stmt = stmt.where(column.is_(None) if group is None else column == group)
    rows = db.session.execute(stmt.limit(MAX_TEXTS * 5)).all()
    names: dict[str, str] = {}
    if not wave.survey.anonymous:
        from app.accounts.models import User

        names = dict(
            db.session.execute(
                select(Participation.response_key, User.display_name)
                .join(User, User.id == Participation.user_id)
                .where(Participation.wave_id == wave.id, Participation.response_key.is_not(None))
            ).all()
        )
    texts = [(text, names.get(key)) for text, key in rows]
    random.SystemRandom().shuffle(texts)
    return texts[:MAX_TEXTS]


# --- trend and insight -------------------------------------------------------------------------


@dataclass
class TrendPoint:
    wave: Wave
    hidden: bool
    responses: int
    rate: float | None
    enps: float | None
    favourable: float | None
    dimensions: dict[str, float | None]


def trend(survey: Survey, now: datetime | None = None) -> list[TrendPoint]:
    """Each started wave's headline figures (kept cubes for closed waves: no answer is read again)."""
    from surveys.services import dimension_name

    now = now or utcnow()
    questions = list(survey.questions)

    def names(q):
        return dimension_name(q.dimension)

    points = []
    for wave in survey.waves:
        if wave.opens_at > now:
            continue
        counted = flask.g.get("herald_survey_cubes", {}) if flask.has_request_context() else {}
        if wave.is_closed(now) or wave.id in counted:
            cube = Cube.of(cube_of(wave, now))
        else:  # an open wave: the trend needs no written answers, one query fewer
            cube = Cube.of(count_cube(wave.id, texts=False))
        hidden = cube.n < survey.threshold
        rate = 100 * cube.n / cube.invited_n if cube.invited_n else None
        if hidden:
            points.append(TrendPoint(wave, True, cube.n, rate, None, None, {}))
            continue
        _results, pooled, e = _figures(cube, questions, names)
        allc: dict[int, int] = {}
        for counts in pooled.values():
            for v, n in counts.items():
                allc[v] = allc.get(v, 0) + n
        s = scale(allc)
        dims = {name: (scale(c).favourable if scale(c) else None) for name, c in pooled.items()}
        points.append(TrendPoint(wave, False, cube.n, rate, e.score if e else None, s.favourable if s else None, dims))
    return points


@dataclass
class Insight:
    label: str
    departments: int
    responses: int
    hidden: bool
    enps: float | None
    favourable: float | None
    participation: float | None  # % of people asked who shared at least once in the wave's window


def advocacy_insight(wave: Wave, labels: dict, now: datetime | None = None) -> list[Insight]:
    """eNPS and % favourable of departments with high vs low advocacy participation in the wave's window.

    Departments hidden in the department breakdown are left out of both halves, so the halves
    cannot be used to work them out.
    """
    from app.content.models import Share
    from surveys.services import dimension_name

    now = now or utcnow()
    full = Cube.of(cube_of(wave, now))
    sizes = full.sizes("department_id")
    hidden = suppressed(sizes, wave.survey.threshold)
    end = min(now, wave.closed_early_at or wave.closes_at)
    sharers = dict(
        db.session.execute(
            select(WaveInvitee.department_id, func.count(func.distinct(Share.user_id)))
            .join(Share, Share.user_id == WaveInvitee.user_id)
            .where(WaveInvitee.wave_id == wave.id, Share.created_at >= wave.opens_at, Share.created_at < end)
            .group_by(WaveInvitee.department_id)
        ).all()
    )
    invited = {None if pd.isna(k) else int(k): int(n)
               for k, n in full.invited.groupby("department_id", dropna=False)["n"].sum().items()}  # fmt: skip
    rates = {d: 100 * sharers.get(d, 0) / invited[d] for d in invited if invited[d] and d is not None
             and d not in hidden and sizes.get(d, 0) > 0}  # fmt: skip
    if len(rates) < 2:
        return []
    ordered = sorted(rates, key=lambda d: rates[d])
    half = len(ordered) // 2
    halves = [(_("Departments with high advocacy participation"), ordered[half:]),
              (_("Departments with low advocacy participation"), ordered[:half])]  # fmt: skip
    questions = list(survey_questions(wave))
    out = []
    for label, members in halves:
        cube = full.among("department_id", members)
        n = cube.n
        asked = sum(invited[d] for d in members)
        rate = 100 * sum(sharers.get(d, 0) for d in members) / asked if asked else None
        if n < wave.survey.threshold:
            out.append(Insight(label, len(members), n, True, None, None, rate))
            continue
        _r, pooled, e = _figures(cube, questions, lambda q: dimension_name(q.dimension))
        allc: dict[int, int] = {}
        for counts in pooled.values():
            for v, c in counts.items():
                allc[v] = allc.get(v, 0) + c
        s = scale(allc)
        out.append(Insight(label, len(members), n, False, e.score if e else None, s.favourable if s else None, rate))
    return out


def survey_questions(wave: Wave) -> list[Question]:
    return list(wave.survey.questions)


# --- exports -----------------------------------------------------------------------------------


def aggregate_rows(wave: Wave, labels: dict, now: datetime | None = None) -> tuple[list[str], list[list]]:
    """The wave's figures per question for everyone, each department and each location (hidden ones marked)."""
    now = now or utcnow()
    columns = [
        _("Group"), _("Question"), _("Type"), _("Dimension"), _("Answers"), _("Mean"), _("Percent favourable"),
        _("eNPS"), _("Percent promoters"), _("Percent passives"), _("Percent detractors"), _("Distribution"),
    ]  # fmt: skip
    rows: list[list] = []
    full = Cube.of(cube_of(wave, now))
    views = [(None, None, _("Everyone"))]
    for by, key in (("department_id", "departments"), ("location_id", "locations")):
        for g in sorted(full.sizes(by), key=lambda k: (k is None, str(labels[key].get(k, "")))):
            views.append((by, g, str(labels[key].get(g) or _("None"))))
    from surveys.catalog import KIND_LABELS
    from surveys.services import dimension_name

    for by, g, name in views:
        result = wave_result(wave, by, g, now)
        if result.hidden:
            rows.append([name, _("Hidden: fewer than %(n)d answers in this group or a neighbouring one",
                                 n=wave.survey.threshold)] + [""] * (len(columns) - 2))  # fmt: skip
            continue
        for r in result.questions:
            q = r.question
            row = [name, q.text, str(KIND_LABELS[q.kind]), dimension_name(q.dimension), r.base]
            if r.scale:
                row += [round(r.scale.mean, 2), round(r.scale.favourable, 1), "", "", "", "",
                        " / ".join(str(c) for c in r.scale.counts)]  # fmt: skip
            elif r.enps:
                e = r.enps
                row += ["", "", round(e.score, 1), round(e.promoters, 1), round(e.passives, 1),
                        round(e.detractors, 1), ""]  # fmt: skip
            elif r.options:
                row += ["", "", "", "", "", "", "; ".join(f"{label}: {n}" for label, n, _p in r.options)]
            else:
                row += ["", "", "", "", "", "", ""]
            rows.append(row)
    return columns, rows


def response_rows(wave: Wave) -> tuple[list[str], list[list]]:
    """One row per response with the person's name: confidential surveys only (refused otherwise)."""
    from app.accounts.models import User

    survey = wave.survey
    if survey.anonymous:
        raise PermissionError("anonymous surveys have no per-response export")
    questions = list(survey.questions)
    columns = [_("Name"), _("E-mail"), _("Day")] + [q.text for q in questions]
    people = db.session.execute(
        select(Participation.response_key, User.display_name, User.email, Participation.day)
        .join(User, User.id == Participation.user_id)
        .where(Participation.wave_id == wave.id, Participation.response_key.is_not(None))
        .order_by(User.display_name)
    ).all()
    answers: dict[str, dict[int, list]] = {}
    for key, qid, value, text in db.session.execute(
        select(Answer.response_key, Answer.question_id, Answer.value, Answer.text).where(Answer.wave_id == wave.id)
    ):
        answers.setdefault(key, {}).setdefault(qid, []).append(text if text is not None else value)
    rows = []
    for key, name, email, day in people:
        mine = answers.get(key, {})
        row = [name, email, day.isoformat()]
        for q in questions:
            got = mine.get(q.id, [])
            if q.kind in ("single", "multi"):
                got = [(q.options or [])[v] for v in got if isinstance(v, int) and v < len(q.options or [])]
            row.append("; ".join(str(v) for v in got))
        rows.append(row)
    return columns, rows
