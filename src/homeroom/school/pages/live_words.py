"""The live class page's words in French and English (docs/live.md#pages), added at import.

Each key starts with `class_`. The page's template reads them with `t()`; the script gets them
all, raw (placeholders such as {name} left in), from a JSON block of the page (`js_words`).
French first, then English, side by side, so that a word is never missing in one language.
"""

from __future__ import annotations

from typing import Final

from homeroom.web import i18n

_WORDS: Final[dict[str, tuple[str, str]]] = {
    "class_noscript": ("Cette page a besoin de JavaScript.", "This page needs JavaScript."),
    "class_back_home": ("Retour à l'accueil", "Back to my dashboard"),
    "class_role_teacher": ("Vous menez cette classe.", "You are running this class."),
    "class_role_pupil": ("Vous suivez cette classe.", "You are in this class."),
    "class_role_guest": (
        "Vous êtes invité : le professeur vous fera entrer.",
        "You are a guest: the teacher will let you in.",
    ),
    # a guest's name, before the class
    "class_guest_title": ("Rejoindre la classe en invité", "Join the class as a guest"),
    "class_guest_lead": (
        "Vous avez reçu un lien d'invité pour « {title} ». Indiquez votre nom : la classe le "
        "verra, et le professeur vous fera entrer.",
        "You were given a guest link for “{title}”. Give your name: the class will see it, "
        "and the teacher will let you in.",
    ),
    "class_guest_name": ("Votre nom", "Your name"),
    "class_guest_name_hint": (
        "Prénom et nom, 80 caractères au plus.",
        "First and last name, 80 characters at most.",
    ),
    "class_guest_submit": ("Entrer dans la salle d'attente", "Go to the waiting area"),
    "class_guest_link_title": ("Lien pour un invité", "Link for a guest"),
    "class_guest_link_lead": (
        "Avec ce lien, une personne sans compte (un intervenant, un assistant) peut rejoindre « "
        "{title} » : elle attendra toujours que vous la fassiez entrer.",
        "With this link, someone without an account (a speaker, an assistant) can join "
        "“{title}”: they will always wait until you let them in.",
    ),
    "class_guest_link_until": (
        "Valable jusqu'au {date} à {time}.",
        "Valid until {date} at {time}.",
    ),
    "class_guest_link_make": ("Lien pour un invité", "Guest link"),
    "class_guest_link_cancel": (
        "Annuler les liens d'invité de cette classe",
        "Cancel this class's guest links",
    ),
    "class_guest_link_cancel_help": (
        "Un lien partagé par erreur ? Annulez tous ceux que vous avez faits pour cette classe : "
        "les invités présents sont déconnectés, et il vous faudra un nouveau lien.",
        "Shared a link by mistake? Cancel all those you made for this class: guests in it are "
        "disconnected, and you will need a new link.",
    ),
    "class_guests_cancelled": (
        "Les liens d'invité de cette classe sont annulés.",
        "This class's guest links are cancelled.",
    ),
    # connection
    "class_status_connecting": ("Connexion…", "Connecting…"),
    "class_status_online": ("En direct.", "Live."),
    "class_status_retry": (
        "Connexion perdue ; nouvel essai dans {s} s…",
        "Connection lost; trying again in {s} s…",
    ),
    "class_status_offline": (
        "Hors ligne : la classe reprendra dès le retour du réseau.",
        "Offline: the class resumes as soon as the network is back.",
    ),
    "class_status_not_open": (
        "La classe n'est pas encore ouverte ; nouvel essai dans {s} s.",
        "The class is not open yet; trying again in {s} s.",
    ),
    "class_stop_removed": (
        "Le professeur vous a exclu de cette classe.",
        "The teacher removed you from this class.",
    ),
    "class_stop_refused": (
        "Le professeur ne vous a pas fait entrer dans cette classe.",
        "The teacher did not let you into this class.",
    ),
    "class_stop_ended": ("La classe est terminée.", "The class is over."),
    "class_stop_locked": (
        "La classe est verrouillée : personne de nouveau ne peut y entrer.",
        "The class is locked: no one new can come in.",
    ),
    "class_stop_signed_out": (
        "Vous n'êtes plus connecté : reconnectez-vous.",
        "You are signed out: please sign in again.",
    ),
    "class_stop_gone": (
        "Cette classe n'existe pas, ou vous n'en faites pas partie.",
        "This class does not exist, or you are not in it.",
    ),
    "class_stop_cancelled": (
        "L'enseignant a annulé ce lien d'invité.",
        "The teacher cancelled this guest link.",
    ),
    "class_stop_other": ("La connexion a été coupée.", "The connection was closed."),
    # the lobby
    "class_lobby_title": ("Salle d'attente", "Waiting room"),
    "class_lobby_wait": (
        "Vous êtes dans la salle d'attente : le professeur va vous faire entrer.",
        "You are in the waiting room: the teacher will let you in.",
    ),
    "class_waiting_title": ("Qui attend", "Who is waiting"),
    "class_nobody_waiting": ("Personne n'attend.", "No one is waiting."),
    "class_admit": ("Faire entrer {name}", "Let {name} in"),
    "class_refuse": ("Refuser {name}", "Refuse {name}"),
    "class_admit_all": ("Faire entrer tout le monde", "Let everyone in"),
    # the teacher's controls
    "class_controls_title": ("Conduite de la classe", "Running the class"),
    "class_lobby_on": (
        "Salle d'attente : les élèves attendent que je les fasse entrer",
        "Waiting room: pupils wait until I let them in",
    ),
    "class_lock": ("Classe verrouillée : personne de nouveau", "Class locked: no one new"),
    "class_chat_closed": ("Discussion fermée aux élèves", "Chat closed to pupils"),
    "class_board_everyone": ("Tout le monde dessine au tableau", "Everyone may draw on the board"),
    "class_end": ("Terminer la classe", "End the class"),
    "class_end_confirm": ("Terminer la classe pour tout le monde ?", "End the class for everyone?"),
    "class_breakout_title": ("Groupes", "Breakout groups"),
    "class_breakout_groups": ("Nombre de groupes (2 à 20)", "Number of groups (2 to 20)"),
    "class_breakout_start": ("Former les groupes", "Start the groups"),
    "class_breakout_end": ("Réunir la classe", "End the groups"),
    "class_group": ("Groupe {n}", "Group {n}"),
    "class_in_group": ("Vous êtes dans le groupe {n}.", "You are in group {n}."),
    "class_visit": ("Aller dans le groupe {n}", "Visit group {n}"),
    "class_visit_main": ("Revenir à la classe entière", "Back to the whole class"),
    # people
    "class_people_title": ("Participants", "Participants"),
    "class_you": ("(vous)", "(you)"),
    "class_teacher": ("(professeur)", "(teacher)"),
    "class_muted": ("(discussion coupée)", "(muted)"),
    "class_mute": ("Couper la discussion de {name}", "Mute {name}"),
    "class_unmute": ("Rétablir la discussion de {name}", "Unmute {name}"),
    "class_remove": ("Exclure {name}", "Remove {name}"),
    "class_remove_confirm": ("Exclure {name} de la classe ?", "Remove {name} from the class?"),
    # hands
    "class_hands_title": ("Mains levées", "Raised hands"),
    "class_hands_none": ("Aucune main levée.", "No hands raised."),
    "class_hand_raise": ("Lever la main", "Raise my hand"),
    "class_hand_lower_mine": ("Baisser la main", "Lower my hand"),
    "class_hand_lower": ("Baisser la main de {name}", "Lower {name}'s hand"),
    # chat
    "class_chat_title": ("Discussion", "Chat"),
    "class_chat_message": ("Votre message", "Your message"),
    "class_chat_to": ("Destinataire", "To"),
    "class_chat_to_all": ("Tout le monde", "Everyone"),
    "class_chat_to_teacher": ("Le professeur seulement", "The teacher only"),
    "class_chat_send": ("Envoyer", "Send"),
    "class_chat_private": ("au professeur", "to the teacher"),
    "class_chat_group": ("groupe {n}", "group {n}"),
    "class_chat_muted": (
        "Le professeur a coupé votre discussion.",
        "The teacher has muted your chat.",
    ),
    "class_chat_closed_note": ("La discussion est fermée aux élèves.", "The chat is closed."),
    "class_chat_pending": ("En attente d'envoi : {n}", "Waiting to be sent: {n}"),
    "class_chat_empty": ("Pas encore de message.", "No messages yet."),
    # poll
    "class_poll_title": ("Sondage", "Poll"),
    "class_poll_new": ("Nouveau sondage", "New poll"),
    "class_poll_question": ("Question", "Question"),
    "class_poll_choices": (
        "Réponses possibles, une par ligne (2 à 10)",
        "Choices, one per line (2 to 10)",
    ),
    "class_poll_multiple": ("Plusieurs réponses permises", "Several answers allowed"),
    "class_poll_open": ("Lancer le sondage", "Start the poll"),
    "class_poll_bad": (
        "Écrivez une question et de 2 à 10 réponses.",
        "Write a question and 2 to 10 choices.",
    ),
    "class_poll_vote": ("Voter", "Vote"),
    "class_poll_voted": ("Votre vote est enregistré.", "Your vote is in."),
    "class_poll_show": ("Montrer les résultats à la classe", "Show the results to the class"),
    "class_poll_close": ("Clore le sondage", "Close the poll"),
    "class_poll_closed": ("Le sondage est clos.", "The poll is closed."),
    "class_poll_none": ("Pas de sondage en cours.", "No poll right now."),
    "class_poll_result": ("{choice} : {n}", "{choice}: {n}"),
    "class_poll_voters": ("Votants : {n}", "Voters: {n}"),
    # board
    "class_board_title": ("Tableau", "Whiteboard"),
    "class_board_label": ("Le tableau, à dessiner", "The whiteboard, for drawing"),
    "class_board_colour": ("Couleur", "Colour"),
    "class_colour_black": ("Noir", "Black"),
    "class_colour_blue": ("Bleu", "Blue"),
    "class_colour_red": ("Rouge", "Red"),
    "class_colour_green": ("Vert", "Green"),
    "class_board_erase": ("Gomme", "Eraser"),
    "class_board_clear": ("Effacer le tableau", "Clear the board"),
    "class_board_empty": ("Le tableau est vide.", "The board is empty."),
    "class_board_summary": (
        "Tracés au tableau : {n} ; le dernier par {name}.",
        "Strokes on the board: {n}; the last by {name}.",
    ),
    "class_board_readonly": (
        "Seul le professeur dessine pour l'instant.",
        "Only the teacher draws for now.",
    ),
    # slides
    "class_slides_title": ("Diapositives", "Slides"),
    "class_slides_file": (
        "Un PDF (20 Mio et 300 pages au plus)",
        "A PDF (at most 20 MiB and 300 pages)",
    ),
    "class_slides_upload": ("Envoyer et montrer", "Upload and show"),
    "class_slides_uploading": ("Envoi…", "Uploading…"),
    "class_slides_too_big": (
        "Fichier trop volumineux (au plus 20 Mio).",
        "File too large (at most 20 MiB).",
    ),
    "class_slides_none": ("Pas de diapositives pour l'instant.", "No slides yet."),
    "class_slides_prev": ("Page précédente", "Previous page"),
    "class_slides_next": ("Page suivante", "Next page"),
    "class_slides_page": ("Page {page} sur {pages}", "Page {page} of {pages}"),
    "class_slides_text": ("Texte de la page", "Text of the page"),
    "class_slides_failed": (
        "Les diapositives ne s'affichent pas.",
        "The slides cannot be shown.",
    ),
    # refusals from the room (error words of docs/live.md)
    "class_err_muted": ("Message refusé : discussion coupée.", "Message refused: chat muted."),
    "class_err_already_voted": ("Vous avez déjà voté.", "You have already voted."),
    "class_err_poll_closed": ("Le sondage est clos.", "The poll is closed."),
    "class_err_poll_open": (
        "Un sondage est déjà en cours : closez-le d'abord.",
        "A poll is already open: close it first.",
    ),
    "class_err_board_full": ("Le tableau est plein : effacez-le.", "The board is full: clear it."),
    "class_err_other": ("Action refusée ({reason}).", "Action refused ({reason})."),
}

FRENCH: Final = {key: words[0] for key, words in _WORDS.items()}
ENGLISH: Final = {key: words[1] for key, words in _WORDS.items()}

i18n.register(FRENCH, ENGLISH)


def js_words(lang: str) -> dict[str, str]:
    """Every word of the page, raw, for its script."""
    return {key: i18n.raw(lang, key) for key in _WORDS}
