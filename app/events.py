"""The one event mechanism: blinker signals that features emit and others subscribe to.

Emitters pass the sender (usually the Flask app) and keyword data. Receivers run
inside the emitter's transaction, so whatever they write commits or rolls back
with the action that caused it.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

user_invited = signals.signal("user-invited")
user_activated = signals.signal("user-activated")
user_signed_in = signals.signal("user-signed-in")
user_deactivated = signals.signal("user-deactivated")
user_reactivated = signals.signal("user-reactivated")
employees_imported = signals.signal("employees-imported")

# Content and sharing. Gamification and notifications subscribe; content never imports them.
post_published = signals.signal("post-published")  # post
share = signals.signal("share")  # share, post, user, first (False for a re-share)
click = signals.signal("click")  # click (a unique click: not a bot, not the sharer, first per visitor/day)
like = signals.signal("like")  # post, user
comment = signals.signal("comment")  # comment, post, user
suggestion_approved = signals.signal("suggestion-approved")  # suggestion, post, user (the employee)
suggestion_rejected = signals.signal("suggestion-rejected")  # suggestion, user

# Rewards (the rewards package emits; notifications will turn these into pushes).
redemption_changed = signals.signal("redemption-changed")  # redemption, status, actor
kudos_received = signals.signal("kudos-received")  # kudos

# Surveys (emitted once per participation; gamification awards the points, never from the response).
survey_completed = signals.signal("survey-completed")  # wave, survey, user, points
survey_opened = signals.signal("survey-opened")  # wave, survey, user_ids (the people it asks)
survey_reminder = signals.signal("survey-reminder")  # wave, survey, user_ids (those who have not answered)

# Analytics: a new conversion reported through an employee's link (API, pixel or import); gamification
# awards the sharer points for it, except for pixel reports (anyone may load a pixel).
conversion = signals.signal("conversion")  # conversion, user_id (the sharer)

# Gamification (notifications turn it into a push).
badge_earned = signals.signal("badge-earned")  # user_id, badge_id, name
