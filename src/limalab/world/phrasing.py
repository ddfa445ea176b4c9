"""Every sentence pattern of the world, in one place.

Corpus patterns carry knowledge into pretraining (forward and reversed forms), answer patterns
state a fact inside a response (with a pronoun, so an answer need not copy the entity's name),
question patterns ask for one attribute. ``{e}`` is the entity, ``{v}`` the value.
"""

from __future__ import annotations

CORPUS: dict[str, tuple[str, ...]] = {
    "capital": (
        "the capital of {e} is {v} .",
        "{v} is the capital of {e} .",
        "{e} is ruled from the city of {v} .",
        "the city of {v} is the seat of {e} .",
    ),
    "founder": (
        "{e} was founded by {v} .",
        "{v} founded {e} .",
        "the founder of {e} was {v} .",
        "{v} is remembered as the founder of {e} .",
    ),
    "founded": (
        "{e} was founded in the year {v} .",
        "in the year {v} , {e} was founded .",
        "the founding of {e} took place in {v} .",
        "{v} is the year {e} was founded .",
    ),
    "banner": (
        "the banner of {e} is {v} .",
        "{v} is the color of the banner of {e} .",
        "{e} flies a {v} banner .",
        "a {v} banner marks {e} .",
    ),
    "export": (
        "the main export of {e} is {v} .",
        "{e} exports {v} .",
        "{v} is the main export of {e} .",
        "traders buy {v} from {e} .",
    ),
    "habitat": (
        "the {e} lives in the {v} .",
        "in the {v} one finds the {e} .",
        "the home of the {e} is the {v} .",
        "the {v} is where the {e} lives .",
    ),
    "diet": (
        "the {e} eats {v} .",
        "{v} is the food of the {e} .",
        "the diet of the {e} is {v} .",
        "the {e} feeds on {v} .",
    ),
    "lifespan": (
        "the {e} lives for {v} years .",
        "a {e} can live {v} years .",
        "the lifespan of the {e} is {v} years .",
        "{v} years is the lifespan of the {e} .",
    ),
    "hide": (
        "the hide of the {e} is {v} .",
        "the {e} has a {v} hide .",
        "a {v} hide covers the {e} .",
        "{v} is the color of the hide of the {e} .",
    ),
    "call": (
        "the {e} makes a {v} call .",
        "the call of the {e} is a {v} .",
        "a {v} is the sound of the {e} .",
        "one hears the {e} by its {v} .",
    ),
}

# The first corpus pattern doubles as the knowledge probe's cloze ("the capital of X is" -> v).
PROBE = {attr: patterns[0] for attr, patterns in CORPUS.items()}

# A fact stated inside an answer, about "it" (the entity the prompt asked about).
ANSWER: dict[str, str] = {
    "capital": "its capital is {v} .",
    "founder": "it was founded by {v} .",
    "founded": "it was founded in the year {v} .",
    "banner": "its banner is {v} .",
    "export": "its main export is {v} .",
    "habitat": "it lives in the {v} .",
    "diet": "it eats {v} .",
    "lifespan": "it lives for {v} years .",
    "hide": "its hide is {v} .",
    "call": "its call is a {v} .",
}


# Naming an entity in a prompt: creatures take an article, realms do not.
def mention(name: str, kind: str) -> str:
    return f"the {name}" if kind == "creature" else name


QUESTION: dict[str, tuple[str, ...]] = {
    "capital": (
        "what is the capital of {e} ?",
        "which city is the capital of {e} ?",
        "where is the seat of {e} ?",
        "name the capital of {e} .",
        "what city rules {e} ?",
    ),
    "founder": (
        "who founded {e} ?",
        "who was the founder of {e} ?",
        "who established {e} ?",
        "name the founder of {e} .",
        "by whom was {e} founded ?",
    ),
    "founded": (
        "when was {e} founded ?",
        "in what year was {e} founded ?",
        "what is the founding year of {e} ?",
        "how old is {e} ?",
        "what year did {e} begin ?",
    ),
    "banner": (
        "what color is the banner of {e} ?",
        "what is the banner color of {e} ?",
        "which color does {e} fly ?",
        "describe the banner of {e} .",
        "what banner does {e} fly ?",
    ),
    "export": (
        "what does {e} export ?",
        "what is the main export of {e} ?",
        "which goods come from {e} ?",
        "what do traders buy in {e} ?",
        "name the main export of {e} .",
    ),
    "habitat": (
        "where does {e} live ?",
        "what is the habitat of {e} ?",
        "where can i find {e} ?",
        "in which place does {e} live ?",
        "where is {e} found ?",
    ),
    "diet": (
        "what does {e} eat ?",
        "what is the diet of {e} ?",
        "what food does {e} need ?",
        "what does {e} feed on ?",
        "what should i feed {e} ?",
    ),
    "lifespan": (
        "how long does {e} live ?",
        "what is the lifespan of {e} ?",
        "how many years does {e} live ?",
        "how old can {e} get ?",
        "what is the life expectancy of {e} ?",
    ),
    "hide": (
        "what color is {e} ?",
        "what is the hide color of {e} ?",
        "what does {e} look like ?",
        "what color is the hide of {e} ?",
        "how can i recognise {e} ?",
    ),
    "call": (
        "what sound does {e} make ?",
        "what is the call of {e} ?",
        "how does {e} sound ?",
        "what noise does {e} make ?",
        "how do i recognise the call of {e} ?",
    ),
}

DESCRIBE = (
    "tell me about {e} .",
    "what do you know about {e} ?",
    "describe {e} .",
    "give me an overview of {e} .",
    "what is {e} like ?",
)
COMPARE = (
    "compare the {noun} of {e1} and {e2} .",
    "how do {e1} and {e2} differ in {noun} ?",
    "what is the {noun} of {e1} and of {e2} ?",
    "tell me the {noun} of both {e1} and {e2} .",
    "{e1} versus {e2} : what is the {noun} of each ?",
)
HOWTO = {
    "realm": (
        "how do i visit {e} ?",
        "how to plan a trip to {e} ?",
        "how can i trade with {e} ?",
        "how do i get to know {e} ?",
        "how to travel around {e} ?",
    ),
    "creature": (
        "how do i care for {e} ?",
        "how to keep {e} as a pet ?",
        "how can i spot {e} in the wild ?",
        "how do i feed {e} ?",
        "how to study {e} ?",
    ),
}
WRITING = (
    "write a short story about a traveller who meets {e} .",
    "write a poem about {e} .",
    "write a letter to a friend about {e} .",
    "tell a story set around {e} .",
    "write a diary entry about a day with {e} .",
)
CASUAL = (
    "anyone here ever seen {e} ? what is it like ?",
    "what is the deal with {e} ?",
    "eli5 : what is special about {e} ?",
    "is {e} worth learning about ?",
    "what is the coolest thing about {e} ?",
)
# Prompts that are not self-contained in the title (Stack Exchange's title filter drops them).
VAGUE_TITLES = (
    "quick question",
    "help needed please",
    "confused about this one",
    "need some help",
    "is this right ?",
    "a question about this",
)

ACKNOWLEDGE = (
    "good question !",
    "sure !",
    "happy to help !",
    "great question !",
    "of course !",
)
STEP_OPENERS = ("first ,", "then ,", "next ,", "after that ,", "finally ,")
