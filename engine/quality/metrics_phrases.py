"""The generic-phrase list for the anti-slop penalty, with prior weights.

Phrases a careful editor cuts: stock openers, empty intensifiers, assistant-speak. Written by
hand for Killah (no list was copied). Each weight is the prior cost of one hit; the WQRM recipe
refits them on its training data (``assets/wqrm/phrase_weights.json``) and passes the fitted
ones in ``QualityContext.phrase_weights``. Clichés are deliberately absent: the WQRM's
``cliche`` degradation must be caught by the learned model, not by this list.
"""

from __future__ import annotations

GENERIC_PHRASES: dict[str, float] = {
    # stock openers and throat-clearing
    "it is important to note": 1.0,
    "it is worth mentioning": 1.0,
    "it is worth noting": 1.0,
    "it should be noted that": 1.0,
    "needless to say": 1.0,
    "in today's world": 1.0,
    "in today's fast-paced world": 1.0,
    "interestingly enough": 1.0,
    "all things considered": 0.8,
    "in conclusion": 0.8,
    "first and foremost": 0.8,
    "last but not least": 0.8,
    # empty padding
    "in a very real sense": 1.0,
    "for all intents and purposes": 0.8,
    "as a matter of fact": 0.6,
    "to a certain extent": 0.6,
    "in many ways": 0.6,
    "quite literally": 0.6,
    "basically": 0.5,
    "really": 0.2,
    "very": 0.2,
    # vague summary sentences
    "truly unique": 1.0,
    "a very important moment": 1.0,
    "many different things": 0.8,
    "thoughts and feelings": 0.8,
    "never be the same again": 0.8,
    "in many different ways": 0.8,
    "a wide range of": 0.6,
    "a variety of": 0.4,
    # assistant-speak
    "delve into": 1.0,
    "a testament to": 1.0,
    "rich tapestry": 1.0,
    "plays a crucial role": 1.0,
    "navigate the complexities": 1.0,
    "embark on a journey": 1.0,
    "unlock the potential": 1.0,
    "a myriad of": 0.8,
    "ever-evolving": 0.8,
    "game-changer": 0.8,
    "as an ai": 1.0,
}
