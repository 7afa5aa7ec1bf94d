"""Every page's words in French and English, and how waits and times are said (docs/gate.md#page).

The gate's words are here; the school's pages add theirs at import (school/pages/words.py and
live_words.py).

French comes first: it is the default whenever the browser asks for neither language. There is
one catalogue per language and nothing else holds text; the waiting page's script receives the
few templates it needs from the same catalogue (`js_strings`), so a word is changed in one place.

`format_wait` here and `wait()` in static/gate.js say a wait the same way: keep them in step.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

Lang = Literal["fr", "en"]

DEFAULT_LANG: Final[Lang] = "fr"
LANGS: Final[tuple[Lang, ...]] = ("fr", "en")
LANGUAGE_NAMES: Final[dict[Lang, str]] = {"fr": "Français", "en": "English"}
DEFAULT_ZONE: Final = "Europe/Paris"

MAX_WAIT_HOURS: Final = 12  # beyond this an estimate means nothing: "more than 12 hours"

_FR: dict[str, str] = {
    # layout
    "page_title": "{title} – homeroom",
    "site_tagline": "Enseignement à distance",
    "skip_link": "Aller au contenu",
    "footer_about": "homeroom, le service public d'enseignement à distance.",
    "footer_lang_label": "Langue",
    # the waiting page: one title and one lead per status
    "title_waiting": "Salle d'attente",
    "title_prequeue": "La file ouvre bientôt",
    "title_not_open": "Pas encore ouvert",
    "title_proof_of_work": "Une vérification avant d'entrer",
    "title_lapsed": "Votre tour est passé",
    "title_paused": "Entrées suspendues",
    "title_degraded": "Salle d'attente",
    "lead_waiting": (
        "Beaucoup de monde se connecte en même temps. Vous avez une place dans la file : "
        "vous entrerez dès que ce sera votre tour."
    ),
    "lead_prequeue": "Votre place est réservée pour l'ouverture, à {time}.",
    "lead_prequeue_unknown": "Votre place est réservée pour l'ouverture, qui approche.",
    "prequeue_fair": (
        "Toutes les personnes présentes avant l'ouverture seront placées dans un ordre tiré "
        "au sort au moment de l'ouverture ; ensuite, ce sera premier arrivé, premier servi. "
        "Arriver plus tôt ne donne donc pas une meilleure place."
    ),
    "prequeue_reload": (
        "À l'ouverture, cette page se rechargera d'elle-même et vous donnera votre place."
    ),
    "lead_not_open": (
        "Le service ouvre à {time}. Revenez à ce moment-là, ou laissez cette page ouverte : "
        "elle se rechargera d'elle-même."
    ),
    "lead_not_open_unknown": (
        "Le service n'est pas encore ouvert. Laissez cette page ouverte : "
        "elle se rechargera d'elle-même."
    ),
    "lead_proof_of_work": (
        "Pour protéger le service contre les robots, votre navigateur fait un petit calcul "
        "avant de vous donner une place. Cela prend en général quelques secondes."
    ),
    "pow_auto": (
        "Dès que la vérification est terminée, vous entrez dans la file automatiquement. "
        "Sinon, appuyez sur « Continuer »."
    ),
    "pow_submit": "Continuer",
    "pow_noscript": (
        "Cette étape a besoin de JavaScript. Activez JavaScript dans votre navigateur, "
        "ou utilisez un autre navigateur, puis rechargez cette page."
    ),
    "lead_lapsed": (
        "Votre tour est arrivé pendant votre absence et votre place a été donnée à "
        "quelqu'un d'autre. Vous pouvez reprendre une place dans la file."
    ),
    "rejoin": "Reprendre une place dans la file",
    # an appointment: a pupil early for class (docs/gate.md#who-is-coming)
    "title_appointment": "Revenez juste avant votre cours",
    "lead_appointment": (
        "Votre cours commence à {start}. Revenez à partir de {come_back} : votre place est gardée."
    ),
    "appointment_kept": (
        "À partir de {come_back}, vous entrerez par la {lane}, devant les personnes "
        "arrivées sans rendez-vous. Inutile d'attendre devant l'écran d'ici là."
    ),
    "appointment_reload": (
        "Vous pouvez fermer cette page et revenir à {come_back}, ou la laisser ouverte : "
        "elle se rechargera d'elle-même à cette heure-là."
    ),
    "label_class_starts": "Début du cours",
    "label_come_back": "Revenez à partir de",
    "live_appointment": "Votre place vous attend dans {wait}.",
    "live_appointment_now": "C'est l'heure ! Chargement de votre place…",
    "lead_paused": (
        "Les entrées sont suspendues pour un moment. Vous gardez votre place : "
        "la file repartira toute seule."
    ),
    "lead_degraded": (
        "Le service fonctionne en mode réduit : l'attente peut être plus longue que prévu. "
        "Vous gardez votre place."
    ),
    "label_number": "Votre numéro",
    "label_lane": "Votre file",
    "label_position": "Votre place dans la file",
    "label_wait": "Attente estimée",
    "label_opening": "Ouverture",
    "calculating": "en calcul…",
    "lane_staff": "File des personnels",
    "lane_priority": "File prioritaire",
    "lane_pupils": "File des élèves",
    "lane_guests": "File des invités",
    "in_lane_staff": "file des personnels",
    "in_lane_priority": "file prioritaire",
    "in_lane_pupils": "file des élèves",
    "in_lane_guests": "file des invités",
    "keep_open": (
        "Gardez cette page ouverte : elle avance toute seule. "
        "La recharger ne vous fait pas perdre votre place."
    ),
    "noscript_refresh": "Cette page se recharge d'elle-même toutes les {seconds} secondes.",
    "refresh_stop": "Arrêter l'actualisation automatique",
    "refresh_stopped": "L'actualisation automatique est arrêtée : rechargez la page de temps en temps.",
    "refresh_now": "Actualiser maintenant",
    "refresh_resume": "Reprendre l'actualisation automatique",
    "while_you_wait": "En attendant",
    "notice": "À savoir :",
    # what the page's script says (see js_strings)
    "position_one": "Place {n} dans la file",
    "position_other": "Place {n} dans la file",
    "live_summary": "{position}. Attente estimée : {wait}.",
    "live_waiting": "Vous êtes dans la file. Cette page se met à jour toute seule.",
    "live_admitted": "C'est votre tour ! Ouverture de la page…",
    "live_continue": "Continuer",
    "live_busy": (
        "Le service est très sollicité. Nous réessayons dans un instant ; vous gardez votre place."
    ),
    "live_offline": "Connexion interrompue. Nous réessayons ; vous gardez votre place.",
    "live_closed": "Le service est en maintenance. Cette page reprendra d'elle-même.",
    "live_opening": "Ouverture dans {wait}.",
    "live_opening_now": "C'est l'ouverture ! Chargement de votre place…",
    # how a wait is said
    "wait_unknown": "pas encore connue",
    "wait_less_minute": "moins d'une minute",
    "wait_about": "environ {duration}",
    "wait_more": "plus de {duration}",
    "unit_minute_one": "{n} minute",
    "unit_minute_other": "{n} minutes",
    "unit_hour_one": "{n} heure",
    "unit_hour_other": "{n} heures",
    "duration_hm": "{hours} et {minutes}",
    # how a time and a day are said
    "time_of_day": "{h} h {mm}",
    "date_time": "{date} à {time}",
    "date": "{weekday} {day} {month}",
    "day_first": "1er",
    "weekday_0": "lundi",
    "weekday_1": "mardi",
    "weekday_2": "mercredi",
    "weekday_3": "jeudi",
    "weekday_4": "vendredi",
    "weekday_5": "samedi",
    "weekday_6": "dimanche",
    "month_1": "janvier",
    "month_2": "février",
    "month_3": "mars",
    "month_4": "avril",
    "month_5": "mai",
    "month_6": "juin",
    "month_7": "juillet",
    "month_8": "août",
    "month_9": "septembre",
    "month_10": "octobre",
    "month_11": "novembre",
    "month_12": "décembre",
    # maintenance (closed mode)
    "title_maintenance": "Le service est en maintenance",
    "maintenance_lead": (
        "Nous faisons des travaux pour que tout fonctionne bien. Merci de revenir un peu plus tard."
    ),
    "maintenance_back_at": "Retour prévu : {time}.",
    "maintenance_retry": "Réessayer",
    # errors: a title and what to do next, per status
    "error_title": "Une erreur s'est produite",
    "error_next": "Ce n'est pas de votre faute. Réessayez dans quelques minutes.",
    "error_title_400": "La demande n'a pas pu être comprise",
    "error_next_400": "Vérifiez l'adresse, ou repartez de la page d'accueil.",
    "error_title_403": "Accès refusé",
    "error_next_403": (
        "Repartez de la page d'accueil. Si le problème continue, contactez votre établissement."
    ),
    "error_title_404": "Page introuvable",
    "error_next_404": "Vérifiez l'adresse, ou repartez de la page d'accueil.",
    "error_title_409": "Déjà utilisé",
    "error_next_409": "Ce lien a déjà servi dans ce navigateur. Repartez de la page d'accueil.",
    "error_title_410": "Ce lien a expiré",
    "error_next_410": "Repartez de la page d'accueil pour reprendre une place dans la file.",
    "error_title_413": "Demande trop volumineuse",
    "error_next_413": "Repartez de la page d'accueil et réessayez.",
    "error_title_425": "Ce n'est pas encore votre tour",
    "error_next_425": "Retournez à la salle d'attente : elle vous fera entrer à votre tour.",
    "error_title_429": "Trop de demandes",
    "error_next_429": "Attendez un peu, puis réessayez.",
    "error_title_503": "Service momentanément indisponible",
    "error_next_503": "Réessayez dans quelques minutes.",
    "error_retry_after": "Vous pourrez réessayer dans {seconds} secondes.",
    "error_code": "Code d'erreur : {status}",
    "error_retry": "Réessayer",
    "error_back": "Retour à l'accueil",
    # the page seen only if a redirect did not happen
    "title_admitted": "C'est votre tour",
    "admitted_lead": "Vous pouvez entrer.",
    "admitted_continue": "Continuer",
    # demo.html: stand-ins for the services behind the gate
    "demo_home_intro": "Bienvenue sur homeroom. Choisissez où aller :",
    "demo_admitted": "Vous êtes entré. Cette page tient la place du service à venir.",
    "demo_class_title": "Ma classe",
    "demo_workspace_title": "Espace de travail",
}

_EN: dict[str, str] = {
    "page_title": "{title} – homeroom",
    "site_tagline": "Distance learning",
    "skip_link": "Skip to content",
    "footer_about": "homeroom, the public distance-learning service.",
    "footer_lang_label": "Language",
    "title_waiting": "Waiting room",
    "title_prequeue": "The queue opens soon",
    "title_not_open": "Not open yet",
    "title_proof_of_work": "A quick check before you join",
    "title_lapsed": "Your turn has passed",
    "title_paused": "Entry paused",
    "title_degraded": "Waiting room",
    "lead_waiting": (
        "Many people are connecting at the same time. You have a place in the queue: "
        "you will go in as soon as it is your turn."
    ),
    "lead_prequeue": "Your place is held for the opening, at {time}.",
    "lead_prequeue_unknown": "Your place is held for the opening, which is close.",
    "prequeue_fair": (
        "Everyone who is here before the opening will be put in a random order when it "
        "opens; after that, it is first come, first served. Arriving earlier does not give "
        "you a better place."
    ),
    "prequeue_reload": "When it opens, this page will reload by itself and give you your place.",
    "lead_not_open": (
        "The service opens at {time}. Come back then, or leave this page open: "
        "it will reload by itself."
    ),
    "lead_not_open_unknown": (
        "The service is not open yet. Leave this page open: it will reload by itself."
    ),
    "lead_proof_of_work": (
        "To protect the service from bots, your browser does a small calculation before "
        "giving you a place. It usually takes a few seconds."
    ),
    "pow_auto": (
        "As soon as the check is done, you join the queue automatically. If not, press “Continue”."
    ),
    "pow_submit": "Continue",
    "pow_noscript": (
        "This step needs JavaScript. Turn JavaScript on in your browser, or use another "
        "browser, then reload this page."
    ),
    "lead_lapsed": (
        "Your turn came while you were away and your place was given to someone else. "
        "You can take a new place in the queue."
    ),
    "rejoin": "Rejoin the queue",
    "title_appointment": "Come back just before your class",
    "lead_appointment": (
        "Your class starts at {start}; come back from {come_back}, your place is kept."
    ),
    "appointment_kept": (
        "From {come_back}, you will go in through the {lane}, ahead of people who arrive "
        "without an appointment. No need to wait in front of the screen until then."
    ),
    "appointment_reload": (
        "You can close this page and come back at {come_back}, or leave it open: "
        "it will reload by itself at that time."
    ),
    "label_class_starts": "Class starts",
    "label_come_back": "Come back from",
    "live_appointment": "Your place is ready for you in {wait}.",
    "live_appointment_now": "It's time! Getting your place…",
    "lead_paused": (
        "Entry is paused for a moment. You keep your place: the queue will move again by itself."
    ),
    "lead_degraded": (
        "The service is running in reduced mode: the wait may be longer than expected. "
        "You keep your place."
    ),
    "label_number": "Your number",
    "label_lane": "Your lane",
    "label_position": "Your place in the queue",
    "label_wait": "Estimated wait",
    "label_opening": "Opens at",
    "calculating": "calculating…",
    "lane_staff": "Staff lane",
    "lane_priority": "Priority lane",
    "lane_pupils": "Pupils' lane",
    "lane_guests": "Guest lane",
    "in_lane_staff": "staff lane",
    "in_lane_priority": "priority lane",
    "in_lane_pupils": "pupils' lane",
    "in_lane_guests": "guest lane",
    "keep_open": (
        "Keep this page open: it moves on by itself. Reloading it does not lose your place."
    ),
    "noscript_refresh": "This page reloads by itself every {seconds} seconds.",
    "refresh_stop": "Stop reloading automatically",
    "refresh_stopped": "Automatic reloading is off: reload the page now and then.",
    "refresh_now": "Reload now",
    "refresh_resume": "Reload automatically again",
    "while_you_wait": "While you wait",
    "notice": "Please note:",
    "position_one": "Place {n} in the queue",
    "position_other": "Place {n} in the queue",
    "live_summary": "{position}. Estimated wait: {wait}.",
    "live_waiting": "You are in the queue. This page updates by itself.",
    "live_admitted": "It's your turn! Opening the page…",
    "live_continue": "Continue",
    "live_busy": "The service is very busy. We will try again in a moment; you keep your place.",
    "live_offline": "Connection lost. Trying again; you keep your place.",
    "live_closed": "The service is under maintenance. This page will carry on by itself.",
    "live_opening": "Opens in {wait}.",
    "live_opening_now": "Opening now! Getting your place…",
    "wait_unknown": "not known yet",
    "wait_less_minute": "less than a minute",
    "wait_about": "about {duration}",
    "wait_more": "more than {duration}",
    "unit_minute_one": "{n} minute",
    "unit_minute_other": "{n} minutes",
    "unit_hour_one": "{n} hour",
    "unit_hour_other": "{n} hours",
    "duration_hm": "{hours} and {minutes}",
    "time_of_day": "{h}:{mm}",
    "date_time": "{date} at {time}",
    "date": "{weekday} {day} {month}",
    "day_first": "1",
    "weekday_0": "Monday",
    "weekday_1": "Tuesday",
    "weekday_2": "Wednesday",
    "weekday_3": "Thursday",
    "weekday_4": "Friday",
    "weekday_5": "Saturday",
    "weekday_6": "Sunday",
    "month_1": "January",
    "month_2": "February",
    "month_3": "March",
    "month_4": "April",
    "month_5": "May",
    "month_6": "June",
    "month_7": "July",
    "month_8": "August",
    "month_9": "September",
    "month_10": "October",
    "month_11": "November",
    "month_12": "December",
    "title_maintenance": "The service is under maintenance",
    "maintenance_lead": (
        "We are doing some work to keep everything running well. Please come back a little later."
    ),
    "maintenance_back_at": "Expected back: {time}.",
    "maintenance_retry": "Try again",
    "error_title": "Something went wrong",
    "error_next": "It is not your fault. Please try again in a few minutes.",
    "error_title_400": "The request could not be understood",
    "error_next_400": "Check the address, or start again from the home page.",
    "error_title_403": "Access refused",
    "error_next_403": "Start again from the home page. If it keeps happening, contact your school.",
    "error_title_404": "Page not found",
    "error_next_404": "Check the address, or start again from the home page.",
    "error_title_409": "Already used",
    "error_next_409": "This link has already been used in this browser. Start again from the home page.",
    "error_title_410": "This link has expired",
    "error_next_410": "Start again from the home page to take a new place in the queue.",
    "error_title_413": "Request too large",
    "error_next_413": "Start again from the home page and try again.",
    "error_title_425": "It is not your turn yet",
    "error_next_425": "Go back to the waiting room: it will let you in when it is your turn.",
    "error_title_429": "Too many requests",
    "error_next_429": "Wait a little, then try again.",
    "error_title_503": "Service temporarily unavailable",
    "error_next_503": "Please try again in a few minutes.",
    "error_retry_after": "You can try again in {seconds} seconds.",
    "error_code": "Error code: {status}",
    "error_retry": "Try again",
    "error_back": "Back to the home page",
    "title_admitted": "It's your turn",
    "admitted_lead": "You can go in.",
    "admitted_continue": "Continue",
    "demo_home_intro": "Welcome to homeroom. Choose where to go:",
    "demo_admitted": "You are in. This page stands in for the service to come.",
    "demo_class_title": "My class",
    "demo_workspace_title": "Workspace",
}


def _typeset_fr(text: str) -> str:
    """French spacing: no-break spaces before : and inside « », narrow ones before ; ! ?"""
    text = re.sub(r" ([;!?])", "\u202f\\1", text)
    text = text.replace(" :", "\u00a0:").replace("« ", "«\u00a0").replace(" »", "\u00a0»")
    # "14 h 30" must not break across lines either
    return text.replace("{h} h {mm}", "{h}\u00a0h\u00a0{mm}")


CATALOGUES: Final[dict[Lang, dict[str, str]]] = {
    "fr": {key: _typeset_fr(text) for key, text in _FR.items()},
    "en": dict(_EN),
}


def register(french: dict[str, str], english: dict[str, str]) -> None:
    """Add another part's words (the school's pages) to the catalogues; a key is never reused.

    French and English must hold the same keys, so no page can fall back to a missing word.
    """
    if french.keys() != english.keys():
        raise ValueError(f"keys differ: {sorted(french.keys() ^ english.keys())}")
    clash = french.keys() & CATALOGUES["fr"].keys()
    if clash:
        raise ValueError(f"keys already in the catalogue: {sorted(clash)}")
    CATALOGUES["fr"].update({key: _typeset_fr(text) for key, text in french.items()})
    CATALOGUES["en"].update(english)


# What static/gate.js reads from the page's <script id="hr-i18n"> block, as raw templates.
JS_KEYS: Final[tuple[str, ...]] = (
    "position_one",
    "position_other",
    "live_summary",
    "live_waiting",
    "live_admitted",
    "live_continue",
    "live_busy",
    "live_offline",
    "live_closed",
    "live_opening",
    "live_opening_now",
    "live_appointment",
    "live_appointment_now",
    "lead_paused",
    "lead_degraded",
    "lead_lapsed",
    "rejoin",
    "calculating",
    "wait_unknown",
    "wait_less_minute",
    "wait_about",
    "wait_more",
    "unit_minute_one",
    "unit_minute_other",
    "unit_hour_one",
    "unit_hour_other",
    "duration_hm",
)

_Q_VALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\Z")
_MAX_HEADER = 1024  # a longer Accept-Language is cut: no browser sends one
_MAX_RANGES = 32


def negotiate(accept_language: str | None) -> Lang:
    """The language to answer in, from an Accept-Language header (RFC 9110 §12.5.4).

    The supported language with the highest q-value wins, the earlier one on a tie; a region
    ("fr-CA", "en-GB") counts as its language. q=0 means "not this one". Anything else, and a
    missing or malformed header, gives French.
    """
    if not accept_language:
        return DEFAULT_LANG
    best: Lang = DEFAULT_LANG
    best_q = 0.0
    for item in accept_language[:_MAX_HEADER].split(",")[:_MAX_RANGES]:
        tag, _, params = item.partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        q = _quality(params)
        if q > best_q and primary in LANGS:
            best = "fr" if primary == "fr" else "en"
            best_q = q
    return best


def _quality(params: str) -> float:
    """The q-value of one language range's parameters; a malformed one counts as 0."""
    for param in params.split(";"):
        name, sep, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if sep and _Q_VALUE.match(value) else 0.0
    return 1.0


def supported(lang: str | None) -> Lang:
    """`lang` if it is one of ours (e.g. from a ?lang= query), else the default."""
    return "en" if lang == "en" else DEFAULT_LANG


def translate(lang: str, key: str, **kw: object) -> str:
    """The message `key` in `lang`, its {placeholders} filled from `kw`; KeyError if unknown."""
    return CATALOGUES[supported(lang)][key].format(**kw)


def raw(lang: str, key: str) -> str:
    """The message `key` in `lang` with its placeholders left in, for the page's script."""
    return CATALOGUES[supported(lang)][key]


def js_strings(lang: str) -> dict[str, str]:
    """The templates static/gate.js needs, to embed in the page as JSON."""
    return {key: raw(lang, key) for key in JS_KEYS}


def format_number(lang: str, n: int) -> str:
    """12345 as "12 345" (narrow no-break space) in French, "12,345" in English."""
    text = f"{n:,}"
    return text.replace(",", "\u202f") if supported(lang) == "fr" else text


def plural(lang: str, key: str, n: int) -> str:
    """`key`_one or `key`_other for `n`, with {n} filled (French counts 0 and 1 as one)."""
    one = n in (0, 1) if supported(lang) == "fr" else n == 1
    return translate(lang, f"{key}_{'one' if one else 'other'}", n=format_number(lang, n))


def wait_seconds(position: int | None, rate: float) -> float | None:
    """Seconds until a `position` is reached at `rate` admissions a second; None if unknown."""
    if position is None or rate <= 0 or not math.isfinite(rate):
        return None
    return max(0.0, position / rate)


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # as JavaScript's Math.round, so the page's script agrees


def format_wait(lang: str, seconds: float | None) -> str:
    """A wait as a person says it: "moins d'une minute", "about 3 minutes", "about 2 hours"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return translate(lang, "wait_unknown")
    if seconds < 60:
        return translate(lang, "wait_less_minute")
    minutes = _round(seconds / 60)
    if minutes < 60:
        return translate(lang, "wait_about", duration=plural(lang, "unit_minute", minutes))
    hours, rest = divmod(5 * _round(minutes / 5), 60)
    if hours >= MAX_WAIT_HOURS:
        return translate(lang, "wait_more", duration=plural(lang, "unit_hour", MAX_WAIT_HOURS))
    duration = plural(lang, "unit_hour", hours)
    if rest:
        duration = translate(
            lang, "duration_hm", hours=duration, minutes=plural(lang, "unit_minute", rest)
        )
    return translate(lang, "wait_about", duration=duration)


def format_time(lang: str, at: float, zone: str = DEFAULT_ZONE) -> str:
    """The time of day of unix time `at` in `zone`: "8 h 05" in French, "8:05" in English."""
    local = datetime.fromtimestamp(at, ZoneInfo(zone))
    return translate(lang, "time_of_day", h=local.hour, mm=f"{local.minute:02d}")


def format_date(lang: str, at: float, zone: str = DEFAULT_ZONE) -> str:
    """The day of unix time `at` in `zone`: "lundi 1er décembre", "Monday 1 December"."""
    local = datetime.fromtimestamp(at, ZoneInfo(zone))
    day = translate(lang, "day_first") if local.day == 1 else str(local.day)
    return translate(
        lang,
        "date",
        weekday=translate(lang, f"weekday_{local.weekday()}"),
        day=day,
        month=translate(lang, f"month_{local.month}"),
    )


def format_opening(lang: str, at: float, now: float, zone: str = DEFAULT_ZONE) -> str:
    """When something opens: the time alone if it is today in `zone`, else day and time."""
    tz = ZoneInfo(zone)
    time = format_time(lang, at, zone)
    if datetime.fromtimestamp(at, tz).date() == datetime.fromtimestamp(now, tz).date():
        return time
    return translate(lang, "date_time", date=format_date(lang, at, zone), time=time)
