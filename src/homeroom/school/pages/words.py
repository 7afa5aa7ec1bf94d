"""The school pages' words in French and English, added to web/i18n.py's catalogues at import.

Every key starts with `school_`, so it never meets one of the gate's. French comes first and
gets the French typesetting (no-break spaces before ":" and inside « ») from `i18n.register`.
Messages of refusals come with the errors themselves (`enrol.MESSAGES`, `signin`), not from
here (docs/school.md#pages).
"""

from __future__ import annotations

from typing import Final

from homeroom.web import i18n

FRENCH: Final[dict[str, str]] = {
    # the frame of every school page
    "school_signed_in_as": "Connecté : {name}",
    "school_sign_out": "Se déconnecter",
    "school_signed_out": "Vous êtes déconnecté.",
    "school_problem": "Il y a un problème :",
    # sign-in
    "school_signin_title": "Se connecter",
    "school_signin_lead": "Connectez-vous avec l'identifiant et le mot de passe de votre compte.",
    "school_login": "Identifiant",
    "school_login_hint": "Par exemple : lea.martin",
    "school_password": "Mot de passe",
    "school_shared_device": "Je suis sur un appareil partagé",
    "school_shared_device_hint": (
        "Ordinateur de l'établissement, de la médiathèque… Vous serez déconnecté au bout de "
        "deux heures sans activité."
    ),
    "school_signin_submit": "Se connecter",
    "school_signin_missing": "Indiquez votre identifiant et votre mot de passe.",
    "school_signin_first_time": "Première connexion avec un code de classe ?",
    "school_signin_first_time_link": "Créer mon compte",
    "school_signin_have_code": "Vous avez reçu un code imprimé ?",
    "school_signin_have_code_link": "Choisir un nouveau mot de passe",
    "school_form_expired": (
        "Cette page était ouverte depuis trop longtemps, ou le formulaire ne vient pas de ce "
        "site. Nous l'avons rechargée : recommencez."
    ),
    # sign-up
    "school_signup_title": "Créer mon compte",
    "school_signup_lead_code": (
        "Votre enseignant vous a donné le code de votre classe. Il est fait de 8 lettres et "
        "chiffres, par exemple ABCD-EFGH."
    ),
    "school_signup_lead_pupil": "Vous êtes invité à rejoindre la classe comme élève.",
    "school_signup_lead_parent": (
        "Vous êtes invité à suivre la scolarité de votre enfant comme parent."
    ),
    "school_signup_lead_teacher": "Vous êtes invité à rejoindre l'établissement comme enseignant.",
    "school_class_code": "Code de la classe",
    "school_display_name": "Prénom et nom",
    "school_display_name_hint": "Tels que l'établissement les connaît, par exemple : Léa Martin",
    "school_email": "Adresse e-mail (facultatif)",
    "school_new_password": "Choisissez un mot de passe",
    "school_new_password_hint": "Au moins 8 caractères. Une phrase courte est plus facile à retenir.",
    "school_signup_submit": "Créer mon compte",
    "school_signup_invalid_next": (
        "Demandez un nouveau lien à l'établissement, ou connectez-vous si vous avez déjà un compte."
    ),
    "school_claim_lead": (
        "Vous êtes connecté. Ce lien vous permet d'ajouter un enfant à votre compte de parent."
    ),
    "school_claim_submit": "Ajouter cet enfant à mon compte",
    "school_claimed": "L'enfant a été ajouté à votre compte.",
    "school_signed_up_title": "Votre compte est créé",
    "school_signed_up_login": "Votre identifiant :",
    "school_signed_up_note": (
        "Notez-le : vous en aurez besoin avec votre mot de passe pour vous connecter."
    ),
    "school_continue": "Continuer vers mon espace",
    # one-time codes
    "school_code_title": "Choisir un nouveau mot de passe",
    "school_code_lead": (
        "L'établissement vous a remis une feuille avec votre identifiant et un code. Le code ne "
        "sert qu'une fois."
    ),
    "school_one_time_code": "Code reçu",
    "school_code_submit": "Enregistrer mon mot de passe",
    "school_code_done": "Votre mot de passe est enregistré. Connectez-vous avec lui.",
    # the dashboard
    "school_home_title": "Mon espace",
    "school_nothing_yet": (
        "Votre compte n'est encore rattaché à aucune classe. L'établissement va s'en occuper."
    ),
    "school_today": "Aujourd'hui, {date}",
    "school_no_session_today": "Pas de classe en direct aujourd'hui.",
    "school_time_range": "de {start} à {end}",
    "school_with_teacher": "avec {name}",
    "school_join": "Rejoindre",
    "school_join_label": "Rejoindre la classe « {title} » de {time}",
    "school_ended": "Terminé",
    "school_in_progress": "En cours",
    # pupil and parent
    "school_pupil_title": "Mes classes du jour",
    "school_parent_title": "Mes enfants",
    "school_child_sessions": "Classes de {name} aujourd'hui",
    "school_no_child": "Aucun enfant n'est encore rattaché à votre compte.",
    # teacher
    "school_teacher_title": "Mes classes",
    "school_teacher_sessions": "Mes classes en direct aujourd'hui",
    "school_no_class": "Aucune classe ne vous est encore attribuée.",
    "school_class_of": "{name} – {school}",
    "school_pupils_one": "{n} élève",
    "school_pupils_other": "{n} élèves",
    "school_counts": "Dans la classe",
    "school_admitted": "Entrés",
    "school_waiting": "En attente",
    "school_not_connected": "Pas connectés",
    "school_code_current": "Code de la classe :",
    "school_code_none": "Pas de code de classe en ce moment.",
    "school_code_make": "Créer un code de classe",
    "school_code_remake": "Remplacer le code",
    "school_code_revoke": "Désactiver le code",
    "school_code_help": (
        "Les élèves créent leur compte avec ce code. Désactivez-le quand toute la classe a rejoint."
    ),
    "school_sheet_make": "Imprimer des codes à usage unique",
    "school_sheet_help": (
        "Pour les élèves sans e-mail : chacun reçoit un code pour choisir un nouveau mot de "
        "passe. Les codes d'une feuille précédente ne marcheront plus."
    ),
    "school_new_session": "Programmer une classe en direct",
    "school_session_class": "Classe",
    "school_session_title": "Titre",
    "school_session_day": "Date",
    "school_session_start": "Heure de début",
    "school_session_minutes": "Durée en minutes",
    "school_session_zone": "Heure de l'établissement ({zone}).",
    "school_session_submit": "Programmer",
    "school_session_created": "La classe « {title} » est programmée {date} à {time}.",
    "school_bad_day": "La date n'est pas valide.",
    "school_bad_time": "L'heure n'est pas valide.",
    "school_bad_minutes": "La durée doit être de 5 à 240 minutes.",
    "school_bad_title": "Le titre doit faire de 1 à 160 caractères.",
    # administrator
    "school_admin_title": "Administration",
    "school_admin_schools": "Établissements",
    "school_admin_classes": "Classes de {name}",
    "school_admin_people": "Personnes de {name}",
    "school_admin_people_cut": "Les {shown} premières personnes sur {total}.",
    "school_admin_no_school": "Aucun établissement dans votre périmètre.",
    "school_admin_no_class": "Aucune classe pour l'instant.",
    "school_col_class": "Classe",
    "school_col_pupils": "Élèves",
    "school_col_code": "Code",
    "school_col_name": "Nom",
    "school_col_login": "Identifiant",
    "school_col_roles": "Rôles",
    "school_col_actions": "Actions",
    "school_role_operator": "opérateur",
    "school_role_admin": "administrateur",
    "school_role_teacher": "enseignant",
    "school_role_pupil": "élève",
    "school_role_parent": "parent",
    "school_roster_title": "Importer une liste (CSV)",
    "school_roster_help": (
        "Un fichier CSV exporté de l'outil de l'établissement, séparé par des points-virgules "
        "ou des virgules. Importer deux fois le même fichier ne change rien."
    ),
    "school_roster_file": "Fichier CSV",
    "school_roster_submit": "Importer",
    "school_roster_missing": "Choisissez un fichier à importer.",
    "school_report_title": "Résultat de l'import",
    "school_report_counts": (
        "{created} personnes créées, {updated} mises à jour, {unchanged} inchangées."
    ),
    "school_report_groups": "Classes créées : {names}.",
    "school_report_ignored": "Colonnes ignorées : {names}.",
    "school_report_bad": "Lignes refusées",
    "school_report_none_bad": "Aucune ligne refusée.",
    "school_col_line": "Ligne",
    "school_col_reason": "Raison",
    "school_report_logins": "Nouveaux comptes",
    "school_back_home": "Retour à mon espace",
    # the printed sheet
    "school_sheet_title": "Codes à usage unique – {name}",
    "school_sheet_lead": (
        "Découpez une ligne par élève. Avec son identifiant et son code, chacun choisit un "
        "nouveau mot de passe sur {url}."
    ),
    "school_sheet_until": "Codes valables jusqu'au {date} à {time}.",
    "school_sheet_print": "Imprimez cette page avec la commande Imprimer de votre navigateur.",
    "school_sheet_empty": "Cette classe n'a pas encore d'élève.",
    "school_col_code_once": "Code",
    # invitation links, export and erasure (pages/people.py)
    "school_invite_pupil": "Inviter des élèves",
    "school_invite_pupil_help": (
        "Un lien pour que les élèves de la classe créent leur compte, à la place du code de classe."
    ),
    "school_invite_parent": "Inviter un parent",
    "school_invite_parent_help": (
        "Un lien pour les parents d'un élève : il relie leur compte à cet enfant seulement."
    ),
    "school_invite_child": "Élève",
    "school_invite_uses": "Nombre d'utilisations",
    "school_invite_uses_hint": "De 1 à {limit}.",
    "school_invite_days": "Valable (en jours)",
    "school_invite_days_hint": "De 1 à {limit} jours.",
    "school_invite_make": "Créer le lien",
    "school_invite_teacher": "Inviter un enseignant à {name}",
    "school_invite_teacher_help": (
        "Un lien pour qu'un enseignant crée son compte dans cet établissement ; ses classes "
        "viennent ensuite de l'import ou de vous."
    ),
    "school_invitation_title": "Lien d'invitation",
    "school_invitation_for_pupil": "Pour les élèves de {name} ({school}).",
    "school_invitation_for_parent": "Pour les parents de {child}, en {name} ({school}).",
    "school_invitation_for_teacher": "Pour un enseignant de {school}.",
    "school_invitation_link": "Le lien à transmettre",
    "school_invitation_until": "Valable jusqu'au {date} à {time}.",
    "school_invitation_uses": "Nombre d'utilisations : {uses}.",
    "school_invitation_hand_pupil": (
        "Donnez ce lien aux élèves de la classe par l'ENT ou la messagerie de la classe : "
        "chacun crée son compte en le suivant."
    ),
    "school_invitation_hand_parent": (
        "Remettez ce lien aux parents de {child} seulement, comme tout ce que l'établissement "
        "leur transmet (carnet de correspondance, ENT, coupon imprimé) : qui le suit devient "
        "parent de cet enfant."
    ),
    "school_invitation_hand_teacher": (
        "Envoyez ce lien à l'enseignant seulement, par la messagerie de l'établissement : il "
        "crée son compte en le suivant."
    ),
    "school_invitation_once": (
        "Ce lien n'est affiché qu'une fois : copiez-le maintenant. Il n'est gardé nulle part en "
        "clair ; s'il se perd, créez-en un autre."
    ),
    "school_export": "Exporter",
    "school_erase": "Effacer",
    "school_erase_title": "Effacer le compte de {name}",
    "school_erase_lead": "Identifiant : {login}. L'effacement est définitif.",
    "school_erase_what": "Seront supprimés :",
    "school_erase_account": "le compte : identifiant, nom, e-mail, mot de passe",
    "school_erase_roles": "rôles : {n}",
    "school_erase_enrolments": "inscriptions dans des classes : {n}",
    "school_erase_teaching": "classes enseignées : {n}",
    "school_erase_family": "liens entre parent et enfant : {n}",
    "school_erase_sessions": "sessions de connexion : {n} (déconnectées aussitôt)",
    "school_erase_codes": "codes à usage unique : {n}",
    "school_erase_events": "historique des connexions : {n}",
    "school_erase_timetable": "créneaux d'emploi du temps : {n}",
    "school_erase_taught": "séances dont cette personne est l'enseignant : {n}",
    "school_erase_kept": "Les invitations créées par cette personne restent, sans son nom.",
    "school_erase_export_first": "Pour en garder une copie, exportez d'abord ses données :",
    "school_erase_export_link": "exporter les données de {name}",
    "school_erase_submit": "Effacer définitivement le compte",
    "school_cancel": "Annuler",
    "school_erased": "Le compte a été effacé.",
}

ENGLISH: Final[dict[str, str]] = {
    "school_signed_in_as": "Signed in: {name}",
    "school_sign_out": "Sign out",
    "school_signed_out": "You are signed out.",
    "school_problem": "There is a problem:",
    "school_signin_title": "Sign in",
    "school_signin_lead": "Sign in with your account's login and password.",
    "school_login": "Login",
    "school_login_hint": "For example: lea.martin",
    "school_password": "Password",
    "school_shared_device": "I am on a shared device",
    "school_shared_device_hint": (
        "A school or library computer… You will be signed out after two hours without activity."
    ),
    "school_signin_submit": "Sign in",
    "school_signin_missing": "Enter your login and your password.",
    "school_signin_first_time": "First time, with a class code?",
    "school_signin_first_time_link": "Create my account",
    "school_signin_have_code": "Were you given a printed code?",
    "school_signin_have_code_link": "Choose a new password",
    "school_form_expired": (
        "This page was open for too long, or the form does not come from this site. We have "
        "reloaded it: please try again."
    ),
    "school_signup_title": "Create my account",
    "school_signup_lead_code": (
        "Your teacher gave you your class's code. It has 8 letters and digits, for example "
        "ABCD-EFGH."
    ),
    "school_signup_lead_pupil": "You are invited to join the class as a pupil.",
    "school_signup_lead_parent": "You are invited to follow your child's schooling as a parent.",
    "school_signup_lead_teacher": "You are invited to join the school as a teacher.",
    "school_class_code": "Class code",
    "school_display_name": "First name and last name",
    "school_display_name_hint": "As the school knows them, for example: Léa Martin",
    "school_email": "E-mail address (optional)",
    "school_new_password": "Choose a password",
    "school_new_password_hint": "At least 8 characters. A short sentence is easier to remember.",
    "school_signup_submit": "Create my account",
    "school_signup_invalid_next": (
        "Ask the school for a new link, or sign in if you already have an account."
    ),
    "school_claim_lead": (
        "You are signed in. This link lets you add a child to your parent account."
    ),
    "school_claim_submit": "Add this child to my account",
    "school_claimed": "The child has been added to your account.",
    "school_signed_up_title": "Your account is ready",
    "school_signed_up_login": "Your login:",
    "school_signed_up_note": "Write it down: you will need it with your password to sign in.",
    "school_continue": "Go to my space",
    "school_code_title": "Choose a new password",
    "school_code_lead": (
        "The school gave you a sheet with your login and a code. The code works only once."
    ),
    "school_one_time_code": "Code you were given",
    "school_code_submit": "Save my password",
    "school_code_done": "Your password is saved. Sign in with it.",
    "school_home_title": "My space",
    "school_nothing_yet": "Your account is not linked to any class yet. The school will see to it.",
    "school_today": "Today, {date}",
    "school_no_session_today": "No live class today.",
    "school_time_range": "from {start} to {end}",
    "school_with_teacher": "with {name}",
    "school_join": "Join",
    "school_join_label": "Join the class “{title}” at {time}",
    "school_ended": "Ended",
    "school_in_progress": "In progress",
    "school_pupil_title": "My classes today",
    "school_parent_title": "My children",
    "school_child_sessions": "{name}'s classes today",
    "school_no_child": "No child is linked to your account yet.",
    "school_teacher_title": "My classes",
    "school_teacher_sessions": "My live classes today",
    "school_no_class": "No class has been assigned to you yet.",
    "school_class_of": "{name} – {school}",
    "school_pupils_one": "{n} pupil",
    "school_pupils_other": "{n} pupils",
    "school_counts": "In the class",
    "school_admitted": "In",
    "school_waiting": "Waiting",
    "school_not_connected": "Not connected",
    "school_code_current": "Class code:",
    "school_code_none": "No class code at the moment.",
    "school_code_make": "Make a class code",
    "school_code_remake": "Replace the code",
    "school_code_revoke": "Turn the code off",
    "school_code_help": (
        "Pupils create their account with this code. Turn it off once the whole class has joined."
    ),
    "school_sheet_make": "Print one-time codes",
    "school_sheet_help": (
        "For pupils without e-mail: each gets a code to choose a new password. The codes of an "
        "earlier sheet will stop working."
    ),
    "school_new_session": "Schedule a live class",
    "school_session_class": "Class",
    "school_session_title": "Title",
    "school_session_day": "Date",
    "school_session_start": "Start time",
    "school_session_minutes": "Length in minutes",
    "school_session_zone": "School time ({zone}).",
    "school_session_submit": "Schedule",
    "school_session_created": "The class “{title}” is scheduled on {date} at {time}.",
    "school_bad_day": "The date is not valid.",
    "school_bad_time": "The time is not valid.",
    "school_bad_minutes": "The length must be 5 to 240 minutes.",
    "school_bad_title": "The title must be 1 to 160 characters long.",
    "school_admin_title": "Administration",
    "school_admin_schools": "Schools",
    "school_admin_classes": "Classes of {name}",
    "school_admin_people": "People of {name}",
    "school_admin_people_cut": "The first {shown} people of {total}.",
    "school_admin_no_school": "No school in your scope.",
    "school_admin_no_class": "No class yet.",
    "school_col_class": "Class",
    "school_col_pupils": "Pupils",
    "school_col_code": "Code",
    "school_col_name": "Name",
    "school_col_login": "Login",
    "school_col_roles": "Roles",
    "school_col_actions": "Actions",
    "school_role_operator": "operator",
    "school_role_admin": "administrator",
    "school_role_teacher": "teacher",
    "school_role_pupil": "pupil",
    "school_role_parent": "parent",
    "school_roster_title": "Import a list (CSV)",
    "school_roster_help": (
        "A CSV file exported from the school's software, separated by semicolons or commas. "
        "Importing the same file twice changes nothing."
    ),
    "school_roster_file": "CSV file",
    "school_roster_submit": "Import",
    "school_roster_missing": "Choose a file to import.",
    "school_report_title": "Import result",
    "school_report_counts": "{created} people created, {updated} updated, {unchanged} unchanged.",
    "school_report_groups": "Classes created: {names}.",
    "school_report_ignored": "Columns ignored: {names}.",
    "school_report_bad": "Rows refused",
    "school_report_none_bad": "No row refused.",
    "school_col_line": "Line",
    "school_col_reason": "Reason",
    "school_report_logins": "New accounts",
    "school_back_home": "Back to my space",
    "school_sheet_title": "One-time codes – {name}",
    "school_sheet_lead": (
        "Cut one line per pupil. With their login and code, each chooses a new password at {url}."
    ),
    "school_sheet_until": "Codes valid until {date} at {time}.",
    "school_sheet_print": "Print this page with your browser's Print command.",
    "school_sheet_empty": "This class has no pupil yet.",
    "school_col_code_once": "Code",
    # invitation links, export and erasure (pages/people.py)
    "school_invite_pupil": "Invite pupils",
    "school_invite_pupil_help": (
        "A link for the class's pupils to create their account, instead of the class code."
    ),
    "school_invite_parent": "Invite a parent",
    "school_invite_parent_help": (
        "A link for one pupil's parents: it links their account to that child only."
    ),
    "school_invite_child": "Pupil",
    "school_invite_uses": "Number of uses",
    "school_invite_uses_hint": "From 1 to {limit}.",
    "school_invite_days": "Valid for (days)",
    "school_invite_days_hint": "From 1 to {limit} days.",
    "school_invite_make": "Make the link",
    "school_invite_teacher": "Invite a teacher to {name}",
    "school_invite_teacher_help": (
        "A link for a teacher to create their account at this school; their classes come "
        "later from the import or from you."
    ),
    "school_invitation_title": "Invitation link",
    "school_invitation_for_pupil": "For the pupils of {name} ({school}).",
    "school_invitation_for_parent": "For the parents of {child}, in {name} ({school}).",
    "school_invitation_for_teacher": "For a teacher of {school}.",
    "school_invitation_link": "The link to hand over",
    "school_invitation_until": "Valid until {date} at {time}.",
    "school_invitation_uses": "Number of uses: {uses}.",
    "school_invitation_hand_pupil": (
        "Give this link to the class's pupils through the school's platform or the class's "
        "messages: each creates their account by following it."
    ),
    "school_invitation_hand_parent": (
        "Hand this link to {child}'s parents only, the way the school hands them anything "
        "(the correspondence book, the school's platform, a printed slip): whoever follows it "
        "becomes a parent of this child."
    ),
    "school_invitation_hand_teacher": (
        "Send this link to the teacher only, through the school's messages: they create their "
        "account by following it."
    ),
    "school_invitation_once": (
        "This link is shown only once: copy it now. It is kept nowhere in clear; if it gets "
        "lost, make another."
    ),
    "school_export": "Export",
    "school_erase": "Erase",
    "school_erase_title": "Erase {name}'s account",
    "school_erase_lead": "Login: {login}. Erasure is final.",
    "school_erase_what": "Will be deleted:",
    "school_erase_account": "the account: login, name, e-mail, password",
    "school_erase_roles": "roles: {n}",
    "school_erase_enrolments": "class enrolments: {n}",
    "school_erase_teaching": "classes taught: {n}",
    "school_erase_family": "parent–child links: {n}",
    "school_erase_sessions": "sign-in sessions: {n} (signed out at once)",
    "school_erase_codes": "one-time codes: {n}",
    "school_erase_events": "sign-in history: {n}",
    "school_erase_timetable": "timetable slots: {n}",
    "school_erase_taught": "class sessions this person teaches: {n}",
    "school_erase_kept": "Invitations this person made stay, without their name.",
    "school_erase_export_first": "To keep a copy, export their data first:",
    "school_erase_export_link": "export {name}'s data",
    "school_erase_submit": "Erase the account for good",
    "school_cancel": "Cancel",
    "school_erased": "The account was erased.",
}

i18n.register(FRENCH, ENGLISH)
