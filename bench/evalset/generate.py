"""Generate the retrieval evaluation set: bench/evalset/conversations.json.

    .venv/bin/python bench/evalset/generate.py [--output PATH] [--seed N] [--quiet]

Synthetic multi-session conversations between one user and an assistant over 6-14 months,
and questions whose answers sit in known turns (the evidence). Everything is drawn from
`random.Random` seeded per conversation and the JSON is written with sorted keys and no
timestamps of its own, so a re-run writes a byte-identical file.

How a conversation is built: a persona (names, family, friends, colleagues, pet) and a
schedule of dated sessions come first. Fact families then place user statements into chosen
sessions (preferences early, successive values of a changing fact in increasing sessions,
the parts of a multi-session answer in different sessions, dated events of one category in
different months) and propose questions about them; many statements are never asked about
and stay as hard negatives (other restaurants, other trips, other friends' news). Greetings,
small talk, requests for help and goodbyes fill the sessions around the facts.

The paraphrase questions are written together with their statements so that they share no
word stem; `_shared_stems` is a cautious stand-in for PostgreSQL's `english` configuration,
which tests/bench/test_evalset.py uses as the judge.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

SEED = 20240917
VERSION = 1
CONVERSATIONS = 24
OUTPUT = Path(__file__).with_name("conversations.json")
FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2025, 12, 20)  # questions are asked a few days after the last session

# Questions per conversation and kind; temporal is split between "when" and "period".
QUOTA = {"exact": 6, "paraphrase": 6, "temporal": 5, "update": 4, "preference": 4}
MAX_FACT_EXCHANGES = 6  # per session, leaving room for a greeting and a goodbye

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11)}

# PostgreSQL's english.stop (the Snowball list), for the paraphrase self-check.
_STOP_WORDS = """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

# --- word lists -----------------------------------------------------------------------

USERS = [
    ("Maya", "Lindqvist"),
    ("Tobias", "Renner"),
    ("Aisha", "Okafor"),
    ("Daniel", "Moreau"),
    ("Ingrid", "Halvorsen"),
    ("Rahul", "Mehta"),
    ("Chiara", "Bellini"),
    ("Owen", "Gallagher"),
    ("Sofia", "Navarro"),
    ("Mateus", "Carvalho"),
    ("Hannah", "Whitfield"),
    ("Kenji", "Watanabe"),
    ("Leila", "Haddad"),
    ("Felix", "Brandt"),
    ("Nora", "Kowalski"),
    ("Samuel", "Adeyemi"),
    ("Elif", "Demir"),
    ("Jonas", "Eriksen"),
    ("Camille", "Fournier"),
    ("Marcus", "Boateng"),
    ("Yuki", "Tanaka"),
    ("Clara", "Jansen"),
    ("Andrei", "Popescu"),
    ("Rosa", "Delgado"),
]
# (name, subject, object, possessive)
FRIENDS = [
    ("Priya", "she", "her", "her"),
    ("Tomas", "he", "him", "his"),
    ("Ines", "she", "her", "her"),
    ("Kwame", "he", "him", "his"),
    ("Freya", "she", "her", "her"),
    ("Luca", "he", "him", "his"),
    ("Dana", "she", "her", "her"),
    ("Bilal", "he", "him", "his"),
    ("Greta", "she", "her", "her"),
    ("Oskar", "he", "him", "his"),
    ("Mei", "she", "her", "her"),
    ("Rafael", "he", "him", "his"),
    ("Zainab", "she", "her", "her"),
    ("Hugo", "he", "him", "his"),
    ("Lotte", "she", "her", "her"),
    ("Emeka", "he", "him", "his"),
    ("Sanne", "she", "her", "her"),
    ("Diego", "he", "him", "his"),
    ("Alex", "they", "them", "their"),
    ("Robin", "they", "them", "their"),
]
COLLEAGUES = [
    "Martin",
    "Yasmin",
    "Gareth",
    "Anika",
    "Pieter",
    "Sunita",
    "Callum",
    "Beatriz",
    "Viktor",
    "Naomi",
    "Ruben",
    "Helga",
    "Arjun",
    "Tessa",
    "Malik",
    "Ingrid",
]
SISTERS = ["Ana", "Lena", "Marta", "Elsa", "Nadia", "Julia", "Carmen", "Tilde", "Rosie", "Vera"]
BROTHERS = ["Ben", "Karl", "Nico", "Sami", "Theo", "Ivo", "Jamie", "Pavel"]
PARTNERS = [
    "Sam",
    "Chris",
    "Noah",
    "Elena",
    "Jordan",
    "Lucia",
    "Matteo",
    "Ravi",
    "Isabel",
    "Erik",
    "Amara",
    "Felipe",
    "Hana",
    "Jonah",
    "Selma",
    "Aaron",
]
FIANCES = ["Marcel", "Dev", "Ollie", "Stefan", "Kofi", "Paolo", "Lars", "Tariq"]
PETS = [
    ("cat", "Miso"),
    ("cat", "Pixel"),
    ("cat", "Olive"),
    ("cat", "Toast"),
    ("dog", "Waffles"),
    ("dog", "Bandit"),
    ("rabbit", "Clover"),
    ("cat", "Ziggy"),
    ("tortoise", "Gus"),
    ("cat", "Mochi"),
]
PUPPY_NAMES = ["Biscuit", "Rocket", "Pepper", "Bruno", "Scout", "Maple", "Juno", "Otis"]
HOME_CITIES = [
    ("Lyon", "€"),
    ("Manchester", "£"),
    ("Leeds", "£"),
    ("Bristol", "£"),
    ("Utrecht", "€"),
    ("Ghent", "€"),
    ("Bordeaux", "€"),
    ("Glasgow", "£"),
    ("Leipzig", "€"),
    ("Bologna", "€"),
    ("Nantes", "€"),
    ("Cardiff", "£"),
    ("Aarhus", "€"),
    ("Graz", "€"),
    ("Brighton", "£"),
    ("Malmo", "€"),
]
MOVE_CITIES = [
    "Porto",
    "Berlin",
    "Dublin",
    "Toronto",
    "Vienna",
    "Gdansk",
    "Madrid",
    "Rotterdam",
    "Edinburgh",
    "Hamburg",
    "Melbourne",
    "Antwerp",
]
WORK_CITIES = [
    "Munich",
    "Frankfurt",
    "Zurich",
    "Brussels",
    "Milan",
    "Stockholm",
    "Geneva",
    "Warsaw",
    "Helsinki",
    "Luxembourg",
    "Dusseldorf",
    "Lille",
    "Turin",
    "Gothenburg",
]
JOBS = [
    "product manager",
    "data analyst",
    "software engineer",
    "architect",
    "marketing manager",
    "UX designer",
    "accountant",
    "management consultant",
    "civil engineer",
    "project coordinator",
    "research scientist",
    "HR business partner",
]
COMPANIES = [
    "Nordlys Energy",
    "Brightwater Labs",
    "Kestrel Logistics",
    "Hollowell & Finch",
    "Quanta Health",
    "Meridian Maps",
    "Oakridge Insurance",
    "Pebble Robotics",
    "Silverline Media",
    "Tandem Bank",
    "Greenhouse Studio",
    "Lumen Analytics",
    "Halcyon Travel",
    "Arcadia Foods",
    "Vertex Build",
    "Bluefin Software",
]
PROJECTS = [
    "Atlas",
    "Falcon",
    "Bluebird",
    "Orion",
    "Kestrel",
    "Juniper",
    "Nimbus",
    "Quarry",
    "Lantern",
    "Mosaic",
    "Tundra",
    "Beacon",
    "Harbour",
    "Sparrow",
]
WORK_PARTS = [
    "client presentation",
    "budget spreadsheet",
    "supplier negotiations",
    "launch plan",
    "user interviews",
    "risk review",
    "training material",
    "pricing model",
    "vendor onboarding",
    "quarterly report",
]
SLIP_REASONS = [
    "the vendor contract still isn't signed",
    "legal hasn't reviewed the privacy terms",
    "two people on the team are off sick",
    "the load tests keep failing",
    "the designs changed again",
    "the client keeps adding features",
    "the data migration is taking forever",
    "procurement lost the purchase order",
]
CLIENT_ASKS = [
    "a dark mode",
    "CSV exports",
    "single sign-on",
    "a Spanish version",
    "weekly email summaries",
    "an offline mode",
    "a cheaper tier",
    "a pilot in two more regions",
]
APPROACHES = [
    "two-week sprints",
    "an external agency",
    "a fixed-price contract",
    "weekly demos",
    "a phased rollout",
    "a shared backlog with sales",
]
BUDGETS = ["40k", "55k", "70k", "85k", "120k", "150k"]

RESTAURANTS = [
    ("Casa Lupo", ["saffron risotto", "veal milanese", "burrata"]),
    ("The Copper Pot", ["lamb shank", "fish pie", "sticky toffee pudding"]),
    ("Little Saigon Kitchen", ["pho", "banh xeo", "lemongrass chicken"]),
    ("Hanami Ramen", ["tonkotsu ramen", "gyoza", "karaage"]),
    ("El Faro", ["grilled octopus", "patatas bravas", "seafood paella"]),
    ("Blue Door Bistro", ["duck confit", "steak frites", "onion soup"]),
    ("Taj Garden", ["lamb rogan josh", "paneer tikka", "dal makhani"]),
    ("Mezze House", ["halloumi", "lamb kofta", "baba ganoush"]),
    ("Seoul Food", ["bibimbap", "Korean fried chicken", "kimchi stew"]),
    ("The Green Fig", ["mushroom wellington", "beetroot salad", "lentil moussaka"]),
    ("Smokestack BBQ", ["brisket", "pulled pork", "burnt ends"]),
    ("Lotus Dim Sum", ["har gow", "char siu bao", "turnip cake"]),
    ("Agave Cantina", ["fish tacos", "chicken mole", "elote"]),
    ("Bistro Margaux", ["bouillabaisse", "tarte tatin", "moules marinieres"]),
    ("Nordic Table", ["smoked trout", "cardamom bun", "venison stew"]),
    ("Addis Kitchen", ["injera platter", "doro wat", "shiro"]),
    ("Golden Wok", ["mapo tofu", "dan dan noodles", "kung pao chicken"]),
    ("Trattoria Sole", ["cacio e pepe", "carbonara", "tiramisu"]),
    ("The Salt Shed", ["crab linguine", "oysters", "roast hake"]),
    ("Sakura Sushi", ["omakase", "salmon nigiri", "eel roll"]),
    ("Tbilisi Corner", ["khachapuri", "khinkali", "badrijani"]),
    ("Beirut Nights", ["chicken shawarma", "fattoush", "kibbeh"]),
    ("Pampas Grill", ["picanha", "skirt steak", "empanadas"]),
    ("The Olive Press", ["moussaka", "spanakopita", "lamb kleftiko"]),
    ("Bangkok Alley", ["green curry", "pad see ew", "som tam"]),
    ("Forno Antico", ["margherita", "nduja pizza", "calzone"]),
    ("The Wild Radish", ["celeriac steak", "squash risotto", "tempeh bowl"]),
    ("Lima Social", ["ceviche", "lomo saltado", "causa"]),
    ("Dumpling Lab", ["xiao long bao", "pork potstickers", "scallion pancake"]),
    ("Harbour Lights", ["fish and chips", "lobster roll", "clam chowder"]),
]
VERDICTS = [
    "incredible",
    "a bit bland",
    "way too salty",
    "the best I've had in ages",
    "fine but overpriced",
    "perfectly cooked",
    "a letdown",
    "surprisingly good",
    "lukewarm by the time it arrived",
    "rich and smoky",
    "lovely and light",
    "forgettable",
    "swimming in oil",
    "honestly life-changing",
]
OCCASIONS = [
    "a birthday",
    "a leaving do",
    "a catch-up",
    "date night",
    "a team lunch",
    "a celebration",
]
DESTINATIONS = [
    ("Kyoto", ["the ryokan", "the bamboo grove", "the tea ceremony", "the Fushimi Inari shrine"]),
    ("Lisbon", ["tram 28", "the custard tarts", "the fado bar", "the Alfama viewpoints"]),
    ("Reykjavik", ["the Blue Lagoon", "the whale watching", "the Hallgrimskirkja tower"]),
    ("Marrakech", ["the souks", "the riad", "the Majorelle garden"]),
    ("Copenhagen", ["Tivoli", "Nyhavn", "the harbour bike tour"]),
    ("Seville", ["the Alcazar", "the flamenco show", "the tapas crawl"]),
    ("Istanbul", ["the Grand Bazaar", "the Bosphorus ferry", "the hammam"]),
    ("Dubrovnik", ["the city walls", "the cable car", "the sea kayak tour"]),
    ("Krakow", ["the salt mine", "Kazimierz", "the Wawel dragon"]),
    ("Budapest", ["the thermal baths", "the ruin bars", "the parliament tour"]),
    ("Barcelona", ["the Sagrada Familia", "La Boqueria", "Park Guell"]),
    ("Naples", ["the pizza tour", "Pompeii", "the Vesuvius crater"]),
    ("Oslo", ["the fjord cruise", "the Munch museum", "the floating sauna"]),
    ("Prague", ["the castle", "Charles Bridge", "the astronomical clock"]),
    ("Athens", ["the Acropolis", "Plaka", "the street food tour"]),
    ("Bruges", ["the canals", "the chocolate shops", "the belfry climb"]),
    ("Tallinn", ["the old town", "the KGB museum", "the seaside sauna"]),
    ("Ljubljana", ["the Dragon Bridge", "the Lake Bled day trip", "the castle funicular"]),
    ("Valencia", ["the paella class", "the City of Arts", "the Turia gardens"]),
    ("Montreal", ["the bagels", "the Old Port", "Mount Royal"]),
    ("Palermo", ["the street markets", "the cathedral", "the arancini"]),
    ("Salzburg", ["the Sound of Music tour", "the fortress", "the salt caves"]),
]
THING_VERDICTS = [
    "worth every penny",
    "overrated",
    "absolutely magical",
    "packed with tourists",
    "the highlight",
    "a total washout",
    "better than expected",
    "unforgettable",
    "a bit of a tourist trap",
    "stunning at sunset",
]
FRIEND_PLACE_OPINIONS = [
    "worth every penny",
    "way too crowded",
    "the best part of the trip",
    "a rip-off",
    "quieter than she expected",
    "not to be missed",
    "freezing but beautiful",
    "a waste of a morning",
    "the thing she'd go back for",
]
HOTELS = [
    "Hotel Lumen",
    "the Harbour Inn",
    "Casa Azul",
    "the Pine Lodge",
    "Pension Rosa",
    "the Grand Meridian",
    "Villa Serena",
    "the Old Mill guesthouse",
    "Hotel Kaleido",
    "the Linden House",
    "Quinta do Sol",
    "the Nest hostel",
]
HOTEL_DETAILS = [
    "right by the station",
    "with a rooftop pool",
    "ten minutes from the old town",
    "breakfast included",
    "in a converted monastery",
    "cheap but the reviews are great",
    "with a kitchenette",
    "overlooking the river",
    "free cancellation",
]
BANDS = [
    "The Velvet Foxes",
    "Marrow Lane",
    "Nadia Sol",
    "Glass Harbour",
    "The Lunar Choir",
    "Kid Ferro",
    "Paper Lanterns",
    "The Soft Machines",
    "Honey Static",
    "Black Orchard",
    "Tiny Giants",
    "Juno Ray",
    "The Northern Hum",
    "Dust & Diamonds",
]
VENUES = [
    "the Roundhouse",
    "the Academy",
    "a tiny basement club",
    "the arena",
    "the park bandstand",
    "the old cinema",
    "the Corn Exchange",
    "the jazz cafe",
]
CONCERT_DETAILS = [
    "they played the whole first album",
    "the sound was awful",
    "I lost my voice singing along",
    "the support act stole the show",
    "we were right at the front",
    "it ran way late",
    "they did a three-song encore",
]
FILMS = [
    "The Last Lighthouse",
    "Paper Moons",
    "Cold Harbour",
    "The Quiet Year",
    "Neon Saints",
    "A House in Tangier",
    "Starfall",
    "The Long Drive Home",
    "Iron Garden",
    "Midnight Ferry",
    "The Cartographer",
    "Small Hours",
    "Red Meridian",
    "Wolves of Ardent",
]
FILM_OPINIONS = [
    "the ending made no sense",
    "I cried twice",
    "gorgeous but slow",
    "easily the best thing I've seen in ages",
    "far too long",
    "funnier than the trailer",
    "the soundtrack carried it",
]
BOOKS = [
    ("The Salt Road", "Ines Carrow"),
    ("A Map of Small Rooms", "Theo Marsh"),
    ("The Glass Orchard", "Amal Reyes"),
    ("Glass Bees", "Jon Halloway"),
    ("The Ninth Harbour", "Petra Lind"),
    ("Everything the River Keeps", "Noor Aziz"),
    ("Ashes of Meridian", "K. L. Vance"),
    ("The Clockmaker's Daughter", "Mira Okoye"),
    ("Low Tide", "Simon Abbott"),
    ("The Borrowed Hour", "Ada Kincaid"),
    ("Signal Fires", "Rui Matsuda"),
    ("The Tin Crown", "Harriet Vale"),
    ("North of Nowhere", "Dev Patel-Cross"),
    ("The Orchard Keeper's Wife", "Lucia Brandt"),
    ("Paper Tigers", "Owen Reilly"),
    ("The Lantern Men", "Sasha Quill"),
    ("Station Eleven Down", "Marco Villa"),
    ("Bright Ruin", "Yara Selim"),
]
BOOK_OPINIONS = [
    "couldn't put it down",
    "the middle dragged",
    "the twist was obvious from chapter three",
    "beautifully written but bleak",
    "I'd recommend it to anyone",
    "gave up on the last hundred pages, then went back",
    "much better than the hype",
    "the characters felt flat",
]
FURNITURE = [
    ("bookshelf", ["solid oak, took two hours to assemble", "finally the books are off the floor"]),
    ("armchair", ["mustard velvet, very comfy", "secondhand but like new"]),
    ("standing desk", ["my back already thanks me", "it wobbles a bit at full height"]),
    ("dining table", ["seats six, extendable", "reclaimed wood"]),
    ("sofa bed", ["for guests", "the mattress is surprisingly decent"]),
    ("chest of drawers", ["painted it sage green", "from a charity shop"]),
    ("bed frame", ["no more mattress on the floor", "the slats creak a little"]),
    ("coat rack", ["the hallway looks so much tidier", "cast iron"]),
    ("coffee table", ["glass top, terrible idea with a cat", "from the flea market"]),
    ("wardrobe", ["flat-pack nightmare", "finally enough hanging space"]),
    ("rocking chair", ["for the reading corner", "a bargain at the auction"]),
]
TRAILS = [
    "the Seven Sisters cliff path",
    "the ridge walk above the reservoir",
    "the waterfall loop",
    "the old railway trail",
    "the coastal path to the lighthouse",
    "the beech forest circuit",
    "the summit trail",
    "the canal towpath",
    "the gorge walk",
    "the heather moor loop",
]
HIKE_DETAILS = [
    "my calves are destroyed",
    "it poured for the last hour",
    "we saw a pair of deer",
    "took six hours with the picnic stop",
    "the view from the top was unreal",
    "got slightly lost near the end",
]
GIFTS = [
    "a silver necklace",
    "a pottery class voucher",
    "noise-cancelling headphones",
    "a cashmere scarf",
    "a signed cookbook",
    "a vintage record player",
    "a weekend spa voucher",
    "a leather notebook",
    "a houseplant in a huge pot",
    "concert tickets",
    "a fancy olive oil set",
    "a framed print of her favourite painting",
    "a waterproof hiking jacket",
    "an espresso machine",
]
RACES = [
    ("the city 10k", ["52:10", "49:45", "55:30", "47:58"]),
    ("the park half marathon", ["1:58:20", "2:04:11", "1:49:40"]),
    ("the trail 15k", ["1:32:05", "1:41:50", "1:27:30"]),
    ("the charity 5k", ["24:40", "26:15", "22:58"]),
    ("the harbour 10-miler", ["1:24:30", "1:31:12", "1:19:44"]),
]
PLANTS = [
    "lemon tree",
    "lavender plant",
    "rosemary bush",
    "climbing jasmine",
    "chilli plant",
    "olive tree",
    "strawberry planter",
    "dwarf apple tree",
    "fuchsia",
]
ROOMS_COLOURS = [
    ("bedroom", "deep green"),
    ("kitchen", "warm white"),
    ("hallway", "terracotta"),
    ("bathroom", "pale blue"),
    ("living room", "charcoal"),
    ("spare room", "mustard yellow"),
    ("office", "sage"),
]
DENTIST_REASONS = [
    "a filling on the top left",
    "a cleaning",
    "a cracked crown",
    "a check-up after the root canal",
    "whitening",
    "a chipped front tooth",
]
BOOK_CLUB_PICKS = [
    "The Glass Orchard",
    "Low Tide",
    "Signal Fires",
    "The Tin Crown",
    "Bright Ruin",
    "Glass Bees",
    "Paper Tigers",
    "The Lantern Men",
]
GYMS = ["PureFit", "Iron Temple", "Gymbox", "FitHaus", "Core Club", "Mettle Gym"]
PHONES = ["iPhone 12", "Pixel 6", "Galaxy S21", "iPhone 15", "Pixel 8", "Galaxy S24", "Fairphone 5"]
LAPTOPS = ["ThinkPad T14", "MacBook Air", "Dell XPS 13", "Framework 13", "MacBook Pro"]
CARS = ["Ford Fiesta", "VW Golf", "Honda Jazz", "Tesla Model 3", "Peugeot 208", "Kia Niro"]
COMMUTES = [
    ("bus", "take the bus"),
    ("train", "get the train"),
    ("bike", "cycle"),
    ("car", "drive"),
    ("walking", "walk"),
]
DIETS = [
    ("keto", "no bread, no pasta, lots of eggs"),
    ("vegetarian", "no meat or fish"),
    ("vegan", "nothing from animals at all"),
    ("pescatarian", "fish but no meat"),
    ("low-FODMAP", "no onion, no garlic, it's brutal"),
    ("Mediterranean", "olive oil on everything"),
]


# --- the structures the families fill ---------------------------------------------------


@dataclass
class Exchange:
    """One user turn and the assistant's reply; ids and times are set when sessions are laid out."""

    user: str
    assistant: str
    category: str = ""  # dated events of one kind ("concert"), at most one per month asked about
    user_id: str = ""
    assistant_id: str = ""
    session: int = -1
    day: date | None = None


@dataclass
class Question:
    kind: str
    question: str
    answer: str
    evidence: list[tuple[Exchange, str]]  # (exchange, "user" | "assistant")
    older: list[Exchange] = field(default_factory=list)
    flavour: str = ""
    period: tuple[date, date] | None = None
    family: str = ""


@dataclass
class Persona:
    first: str
    last: str
    city: str
    currency: str
    job: str
    company: str
    sister: str
    brother: str
    pet: tuple[str, str]
    friends: list[tuple[str, str, str, str]]
    colleagues: list[str]
    partner: str


@dataclass
class PeriodCandidate:
    category: str
    exchange: Exchange
    question: str  # with {period}
    answer: str
    family: str


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def tidy(text: str) -> str:
    """Articles that agree with the slot filled in after them."""
    text = re.sub(r"\b([Aa]) (?=[aeioAEIO]|iPhone)", r"\1n ", text)
    return re.sub(r"\b([Tt]he) The\b", r"\1", text)


def a_an(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def listing(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _stem(word: str) -> str:
    for suffix in (
        "ational",
        "ization",
        "fulness",
        "iveness",
        "ously",
        "ement",
        "ments",
        "ment",
        "ings",
        "ing",
        "edly",
        "ied",
        "ies",
        "ed",
        "es",
        "ly",
        "er",
        "s",
        "y",
        "e",
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def content_stems(text: str) -> dict[str, str]:
    """Cautious approximation of the english lexemes of `text`: stem -> one word with it."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {_stem(w): w for w in words if w not in STOP_WORDS}


def _shared_stems(question: str, text: str) -> list[str]:
    q, t = content_stems(question), content_stems(text)
    return sorted(f"{q[s]}/{t[s]}" for s in q if s in t)


# --- one conversation -------------------------------------------------------------------


class Conversation:
    """Plans one conversation: its sessions, the facts placed in them and the questions."""

    def __init__(self, number: int, seed: int) -> None:
        self.cid = f"c{number:02d}"
        self.rng = random.Random(f"{seed}-{self.cid}")
        self.split = "heldout" if number % 3 == 0 else "tune"
        self.days = self._schedule()
        self.n = len(self.days)
        self.placed: list[list[list[Exchange]]] = [[] for _ in self.days]
        self.category_months: dict[str, list[tuple[int, int]]] = {}
        self.candidates: dict[str, list[Question]] = {}
        self.period_candidates: list[PeriodCandidate] = []
        self.topics: list[str] = []  # facts already told, some exclude others (CONFLICTS)
        self.used_things: list[tuple[str, str]] = []  # (destination, sight) already talked about
        self.used_books: list[str] = []
        self.category_exchanges: dict[str, list[Exchange]] = {}
        self.persona = self._persona(number)

    # ---- schedule and persona

    def _schedule(self) -> list[date]:
        rng = self.rng
        span = rng.randint(190, 420)
        latest_start = (LAST_DAY - FIRST_DAY).days - span
        start = FIRST_DAY + timedelta(days=rng.randint(0, latest_start))
        count = rng.randint(15, 25)
        offsets = sorted({0, span, *rng.sample(range(1, span), count - 2)})
        return [start + timedelta(days=o) for o in offsets]

    def _persona(self, number: int) -> Persona:
        rng = self.rng
        first, last = USERS[(number - 1) % len(USERS)]
        city, currency = rng.choice(HOME_CITIES)
        return Persona(
            first=first,
            last=last,
            city=city,
            currency=currency,
            job=rng.choice(JOBS),
            company=rng.choice(COMPANIES),
            sister=rng.choice(SISTERS),
            brother=rng.choice(BROTHERS),
            pet=rng.choice(PETS),
            friends=rng.sample(FRIENDS, 4),
            colleagues=rng.sample([c for c in COLLEAGUES if c != first], 3),
            partner=rng.choice(PARTNERS),
        )

    # ---- placement

    def band(self, part: int, parts: int) -> tuple[int, int]:
        """Session indices [lo, hi] of the part-th of `parts` equal bands."""
        lo = part * self.n // parts
        hi = (part + 1) * self.n // parts - 1
        return lo, max(lo, hi)

    def place(
        self,
        exchanges: Exchange | list[Exchange],
        lo: int = 0,
        hi: int | None = None,
        avoid: Sequence[int] = (),
    ) -> int:
        """Put the exchanges (kept together, in order) into one session in [lo, hi]."""
        items = exchanges if isinstance(exchanges, list) else [exchanges]
        if lo > self.n - 1:
            raise RuntimeError(f"{self.cid}: no session after {lo - 1} for {items[0].user!r}")
        hi = self.n - 1 if hi is None else max(lo, min(hi, self.n - 1))
        category = items[0].category
        used_months = self.category_months.get(category, []) if category else []

        def fits(i: int, strict: bool) -> bool:
            size = sum(len(block) for block in self.placed[i])
            if size + len(items) > MAX_FACT_EXCHANGES or i in avoid:
                return False
            month = (self.days[i].year, self.days[i].month)
            return not (strict and category and month in used_months)

        # The window is a wish, `lo` and `avoid` are rules; a category's months are a wish too.
        for top, strict in ((hi, True), (self.n - 1, True), (hi, False), (self.n - 1, False)):
            options = [i for i in range(lo, top + 1) if fits(i, strict)]
            if options:
                break
        else:
            raise RuntimeError(f"{self.cid}: no room for {items[0].user!r}")
        index = self.rng.choice(options)
        self.placed[index].append(items)
        for exchange in items:
            exchange.session = index
            exchange.day = self.days[index]
        if category:
            self.category_months.setdefault(category, []).append(
                (self.days[index].year, self.days[index].month)
            )
            self.category_exchanges.setdefault(category, []).extend(items)
        return index

    def new_book(self, titles: Sequence[str] = ()) -> str:
        """A book title not yet mentioned in this conversation."""
        pool = [t for t in titles or [title for title, _ in BOOKS] if t not in self.used_books]
        title = self.rng.choice(pool)
        self.used_books.append(title)
        return title

    def candidate(self, question: Question) -> None:
        self.candidates.setdefault(question.kind, []).append(question)

    def period_candidate(
        self, category: str, exchange: Exchange, question: str, answer: str, family: str
    ) -> None:
        self.period_candidates.append(PeriodCandidate(category, exchange, question, answer, family))

    # ---- text

    def say(
        self,
        templates: Sequence[str],
        slots: Mapping[str, str] | None = None,
        decorate: float = 0.4,
    ) -> str:
        """A user statement from one of the templates, sometimes with an opener or a closer."""
        rng = self.rng
        template = rng.choice(templates)
        if rng.random() < decorate:
            opener = rng.choice(OPENERS)
            if not template.startswith(("{", "I ", "I'")):
                template = template[:1].lower() + template[1:]
            template = opener + template
        if rng.random() < decorate / 2:
            template += rng.choice(CLOSERS)
        return tidy(cap(template.format(**(slots or {}))))

    def reply(
        self,
        templates: Sequence[str],
        slots: Mapping[str, str] | None = None,
        generic: float = 0.35,
    ) -> str:
        """The assistant's answer: often specific (echoing some nouns), sometimes generic."""
        if not templates or self.rng.random() < generic:
            return self.rng.choice(ACKNOWLEDGEMENTS)
        return tidy(cap(self.rng.choice(templates).format(**(slots or {}))))


OPENERS = [
    "Oh, ",
    "So, ",
    "Quick one: ",
    "Update: ",
    "Random, but ",
    "Okay so ",
    "Well, ",
    "Ha, ",
    "By the way, ",
    "Right, ",
    "Also, ",
    "Small thing: ",
    "Hmm, ",
    "Meanwhile, ",
]
CLOSERS = [
    " Anyway.",
    " Just so you know.",
    " Thought I'd mention it.",
    " Long story.",
    " Make of that what you will.",
    " So yeah.",
    " Not much else to report.",
    " That's all.",
]
ACKNOWLEDGEMENTS = [
    "Good to know, thanks for telling me.",
    "Noted!",
    "Thanks for the update.",
    "Got it, I'll keep that in mind.",
    "Okay, noted.",
    "Thanks for sharing that.",
    "Understood.",
    "I'll remember that.",
    "Thanks, that's helpful context.",
    "Appreciate you keeping me posted.",
    "Oh, interesting!",
    "Okay! Anything you'd like me to do with that?",
]

# --- restaurants, trips, friends, work ------------------------------------------------

RESTAURANT_VISIT = [
    "Had dinner at {r} {who} last night. The {dish} was {verdict}.",
    "Finally tried {r} {who}. The {dish}? {verdict_cap}.",
    "Lunch at {r} today, {who}. Went for the {dish}, {verdict}.",
    "We ended up at {r} for {occasion}. The {dish} was {verdict}, the rest was fine.",
    "Food report: {r}, {who}, the {dish}. {verdict_cap}.",
    "If I ever suggest {r} again, remember the {dish} there is {verdict}.",
    "Booked a table at {r} {who}, mostly for the {dish}, and it was {verdict}.",
    "Tried the {dish} at {r} tonight {who}. Verdict: {verdict}.",
    "{r} was packed but we squeezed in {who}; the {dish} was {verdict}.",
    "Went to that place everyone talks about, {r}, {who}. I had the {dish}: {verdict}.",
    "Ate at {r} after work {who}. The {dish} was {verdict}, though the service was slow.",
    "First time at {r} for {occasion}. I ordered the {dish} and it was {verdict}.",
    "Dinner out {who} at {r}. Their famous {dish} was {verdict}, if you ask me.",
    "{r} {who} tonight. The {dish} was {verdict} and the wine list was huge.",
]
RESTAURANT_REVISIT = [
    "Back at {r} again {who}, this time I had the {dish}. {verdict_cap}.",
    "Second visit to {r}: skipped the usual and got the {dish}, which was {verdict}.",
    "We went back to {r} {who}. The {dish} was {verdict}.",
    "Returned to {r} for {occasion}; tried the {dish} this time, {verdict}.",
]
RESTAURANT_REPLIES = [
    "That sounds like a fun evening. Would you go back to {r}?",
    "Noted, I'll remember {r}.",
    "Ah, the {dish}! Did you try any desserts?",
    "Good to have an honest review. Was it busy?",
    "Sounds like a good night out.",
    "I'll keep {r} on the list for next time you ask for ideas.",
]
RESTAURANT_QUESTIONS = [
    "What did I think of the {dish} at {r}?",
    "How was the {dish} at {r}?",
    "What was my verdict on the {dish} at {r}?",
    "Was the {dish} at {r} any good?",
]
TRIP_BOOKED = [
    "Booked the {dest} trip! We're staying at {hotel}, {hdetail}.",
    "For {dest} I went with {hotel} in the end, {hdetail}.",
    "Accommodation for {dest} sorted: {hotel}, {hdetail}.",
    "Just paid the deposit at {hotel} for our {dest} getaway, {hdetail}.",
    "Found a place to stay in {dest}: {hotel}. It's {hdetail}.",
    "{dest} is happening! Flights done, and {hotel}, {hdetail}.",
    "Spent the evening comparing places in {dest} and picked {hotel}, {hdetail}.",
    "Reserved {hotel} for {dest}, {hdetail}. Now I just need time off approved.",
    "Went for {hotel} for the {dest} trip because it's {hdetail}.",
    "Locked in {hotel} in {dest} with {who}, {hdetail}.",
]
TRIP_BOOKED_REPLIES = [
    "Exciting! How long will you be in {dest}?",
    "{hotel} sounds good. Want a packing list closer to the date?",
    "Nice, that's the hard part done.",
    "Lovely. Do you want some ideas for things to do in {dest}?",
    "Great choice. Remember to check the cancellation terms.",
]
TRIP_BACK = [
    "Back from {dest}. {thing_cap} was {tverdict}.",
    "Home again after {dest}. Honestly {thing} was {tverdict}.",
    "{dest} recap: {thing} was {tverdict}, the rest a blur.",
    "Just landed from {dest}. If anyone asks, {thing} was {tverdict}.",
    "Survived {dest}! {thing_cap}: {tverdict}.",
    "We got back from {dest} last night and I keep thinking about {thing}. {tverdict_cap}.",
    "Unpacking after {dest}. {thing_cap} was {tverdict}, would do it again.",
    "Post-{dest} thoughts: {thing} was {tverdict}.",
    "That {dest} trip went fast. {thing_cap} was {tverdict}.",
]
TRIP_BACK_REPLIES = [
    "Welcome back! What was the food like in {dest}?",
    "Sounds like a great trip.",
    "Glad you made it home safely. Any photos you're proud of?",
    "{dest} is on a lot of people's lists for a reason.",
    "Welcome home! Time to sleep it off.",
]
FRIEND_FACTS: list[tuple[list[str], list[str], str | list[str]]] = [
    # (statements, questions, answer); slots: f, sub, obj, pos, Sub and the fact's own
    (
        [
            "{f} just got back from {place}; {sub} said {thing} was {opinion}.",
            "Talked to {f} about {pos} {place} trip. Apparently {thing} was {opinion}.",
            "{f} sent me photos from {place}. {Sub} reckons {thing} was {opinion}.",
            "According to {f}, {thing} in {place} was {opinion}.",
            "Had a coffee with {f}, still buzzing from {place}: {thing} was {opinion}.",
        ],
        [
            "What did {f} say about {thing} in {place}?",
            "What was {f}'s take on {thing} in {place}?",
        ],
        "{opinion_cap}",
    ),
    (
        [
            "{f} got a new job as a {job} at {company}!",
            "{f} is leaving {pos} old place to be a {job} at {company}.",
            "Big news from {f}: {sub} accepted a {job} role at {company}.",
        ],
        ["What job did {f} get at {company}?", "Which role is {f} taking at {company}?"],
        "{job_cap}",
    ),
    (
        [
            "{f} is allergic to {allergen}, we found out the hard way at dinner.",
            "Note to self: {f} can't have {allergen}, {sub} had a reaction last time.",
            "{f} told me {sub} is allergic to {allergen}, so no surprises when {sub} visits.",
        ],
        ["What is {f} allergic to?", "Which allergy does {f} have?"],
        "{allergen_cap}",
    ),
    (
        [
            "{f} is training for {event}, up at five every day.",
            "{f} signed up for {event}. {Sub} is completely mad.",
            "Apparently {f} has a coach now, all for {event}.",
        ],
        ["What is {f} training for?", "What event did {f} sign up for?"],
        "{event_cap}",
    ),
    (
        [
            "{f} and {pos} partner bought a farmhouse near {town} to do up.",
            "{f} showed me the farmhouse {sub} bought near {town}. It needs a new roof.",
        ],
        ["What did {f} buy near {town}?", "What is {f} doing up near {town}?"],
        "A farmhouse",
    ),
    (
        [
            "{f} lent me {pos} copy of {book}, says it's brilliant.",
            "I've got {f}'s copy of {book} on my nightstand, {sub} insisted.",
        ],
        ["Which book did {f} lend me?", "What book did {f} insist I borrow?"],
        "{book}",
    ),
    (
        [
            "{f} had a baby girl, they've named her {baby}!",
            "{f}'s baby arrived, a little girl called {baby}.",
        ],
        ["What did {f} name the baby?", "What is {f}'s baby girl called?"],
        "{baby}",
    ),
    (
        [
            "{f} adopted a {animal} called {petname}.",
            "{f} has a new {animal}, {petname}, and sends me photos constantly.",
        ],
        ["What is {f}'s {animal} called?", "What did {f} name the new {animal}?"],
        "{petname}",
    ),
    (
        [
            "{f} started a band, {sub} plays bass and they're called {bandname}.",
            "{f}'s band {bandname} has a first gig booked, {sub} is on bass.",
        ],
        ["What is {f}'s band called?", "What does {f} play in {bandname}?"],
        ["{bandname}", "Bass"],
    ),
]
FRIEND_REPLIES = [
    "That's lovely news about {f}.",
    "Good to know about {f}.",
    "Thanks, I'll remember that about {f}.",
    "Sounds like {f} has a lot going on.",
    "How are you feeling about that?",
]
FRIEND_JOBS = [
    ("paramedic", "the ambulance service"),
    ("sommelier", "a wine bar in the centre"),
    ("data scientist", "a startup called Fernweh"),
    ("head teacher", "the primary school on the hill"),
    ("translator", "the regional council"),
    ("lecturer", "the university"),
]
ALLERGENS = ["peanuts", "shellfish", "sesame", "kiwi", "penicillin", "cashews", "mustard"]
EVENTS = [
    "a triathlon",
    "an ultramarathon",
    "a relay swim across the lake",
    "a 200 km cycle sportive",
    "a powerlifting meet",
]
TOWNS = ["Ambleside", "Hay-on-Wye", "Cahors", "Sintra", "Lucca", "Hallstatt", "Ronda"]
BABIES = ["Ottilie", "Mira", "Ada", "Freja", "Noor", "Isla"]
ANIMALS = [("greyhound", "Comet"), ("parrot", "Captain"), ("kitten", "Sprout"), ("ferret", "Dot")]
FRIEND_BANDS = ["Static Tuesday", "The Borrowed Vans", "Lowland Hum", "Cardboard Kings"]

WORK_FACTS: list[tuple[list[str], list[str], str]] = [
    (
        [
            "{col} thinks the {proj} launch will slip because {reason}.",
            "Per {col}, {proj} won't launch on time: {reason}.",
            "{col} pulled me aside, worried {proj} will slip since {reason}.",
            "Standup was grim, {col} says the {proj} launch is slipping, {reason}.",
        ],
        [
            "Why does {col} think the {proj} launch will slip?",
            "What reason did {col} give for {proj} slipping?",
        ],
        "{reason_cap}",
    ),
    (
        [
            "On {proj}, {col} is taking over the {part} and I keep the {part2}.",
            "Reshuffle on {proj}: {col} gets the {part}, I'm left with the {part2}.",
            "{col} volunteered to own the {part} for {proj}, thank god.",
        ],
        ["Who is taking over the {part} on {proj}?", "Who owns the {part} for {proj} now?"],
        "{col}",
    ),
    (
        [
            "The {proj} demo went well, the client asked for {ask}.",
            "Client call about {proj}: they loved it but want {ask}.",
            "After the {proj} demo the client's only request was {ask}.",
        ],
        [
            "What did the client ask for after the {proj} demo?",
            "What did the {proj} client want added?",
        ],
        "{ask_cap}",
    ),
    (
        [
            "Budget for {proj} got cut to {cur}{amount}.",
            "Finance slashed the {proj} budget, we're down to {cur}{amount}.",
            "{proj} now has {cur}{amount} to play with, down from double that.",
        ],
        ["What was the {proj} budget cut to?", "How much budget does {proj} have now?"],
        "{cur}{amount}",
    ),
    (
        [
            "{col} proposed switching {proj} to {approach}.",
            "In the retro {col} pitched {approach} for {proj}.",
            "{col} wants to run {proj} with {approach} from now on.",
        ],
        ["What did {col} propose for {proj}?", "What did {col} pitch for {proj} in the retro?"],
        "{approach_cap}",
    ),
]
WORK_REPLIES = [
    "That sounds stressful. Do you want help planning around it?",
    "Thanks for the context on {proj}.",
    "Makes sense. Should I remind you to follow up with {col}?",
    "Noted for {proj}.",
    "Want me to draft a status update?",
]

RECOMMENDATIONS: list[tuple[list[str], list[str], list[str], str]] = [
    # (user asks, assistant recommends, questions, answer); slot {x} is the recommendation
    (
        [
            "I need a {genre} novel for a long flight, any ideas?",
            "Can you suggest a {genre} novel? Long flight coming up.",
        ],
        [
            "You might enjoy {x}: it's a page-turner and perfect for a flight.",
            "Try {x}. Short chapters, hard to put down, ideal for travelling.",
        ],
        [
            "Which {genre} novel did you suggest for my long flight?",
            "What {genre} novel did you recommend for the flight?",
        ],
        "{x}",
    ),
    (
        [
            "What should I cook for six people when one of them is vegetarian?",
            "Dinner for six on Saturday, one vegetarian. What do I cook?",
        ],
        [
            "How about {x}? It scales well and everyone can eat it.",
            "I'd go with {x}: make it ahead and it only gets better.",
        ],
        [
            "What dish did you suggest when I was cooking for six people?",
            "What did you recommend I cook for six with one vegetarian?",
        ],
        "{x}",
    ),
    (
        [
            "Any podcast about {topic} for my commute?",
            "I want a podcast on {topic} for the commute. Suggestions?",
        ],
        [
            "{x} is a good one: short episodes and a host who explains well.",
            "Have a listen to {x}, it's the best-loved one on {topic}.",
        ],
        [
            "Which podcast about {topic} did you recommend?",
            "What {topic} podcast did you suggest for my commute?",
        ],
        "{x}",
    ),
    (
        [
            "My {body} is tight after sitting all day, is there a stretch for that?",
            "Can you suggest a stretch for a tight {body}?",
        ],
        [
            "Try the {x}: hold it for thirty seconds each side, twice a day.",
            "The {x} is a classic for that; go gently and breathe out into it.",
        ],
        [
            "Which stretch did you suggest for my tight {body}?",
            "What stretch did you recommend for my {body}?",
        ],
        "The {x}",
    ),
    (
        [
            "I need a board game for four players that isn't Monopoly.",
            "Suggest a board game for four people? Not Monopoly, please.",
        ],
        [
            "{x} works brilliantly with four players and takes about an hour.",
            "Give {x} a go: easy to learn, lots of table talk.",
        ],
        [
            "Which board game did you suggest for four players?",
            "What board game did you recommend instead of Monopoly?",
        ],
        "{x}",
    ),
]
REC_SLOTS = [
    {"genre": ["science fiction", "crime", "historical"]},
    {},
    {"topic": ["history", "economics", "space", "design"]},
    {"body": ["lower back", "neck", "hip"]},
    {},
]
REC_VALUES = [
    ["The Ninth Harbour", "Ashes of Meridian", "Signal Fires", "North of Nowhere"],
    ["a big mushroom and chestnut pie", "a roast vegetable lasagne", "a chickpea tagine"],
    ["The Long Now Hour", "Deep Past", "Orbit Notes", "Shapes & Spaces"],
    ["pigeon pose", "cat-cow stretch", "child's pose", "figure-four stretch"],
    ["Ticket to Ride", "Wingspan", "Azul", "Codenames"],
]

# --- dated events: books, concerts, films, furniture, hikes --------------------------

CATEGORY_EVENTS: dict[str, tuple[list[str], list[str], list[str], str, str]] = {
    # category: (statements, replies, exact questions, exact answer, period question)
    "book": (
        [
            "Finished {book} by {author}. {bopinion_cap}.",
            "Just turned the last page of {book}. {bopinion_cap}.",
            "Done with {book} at last: {bopinion}.",
            "{book} by {author}, finished on the bus this morning. {bopinion_cap}.",
            "Stayed up way too late to finish {book}. {bopinion_cap}.",
            "Closed {book} an hour ago and I'm still thinking about it; {bopinion}.",
        ],
        [
            "What are you going to read next?",
            "{author} has a couple of other books if you liked it.",
            "Thanks for the review of {book}!",
            "Nice. Want a recommendation for what to read next?",
        ],
        ["What did I think of {book}?", "What was my opinion of {book} by {author}?"],
        "{bopinion_cap}",
        "Which book did I finish reading in {period}?",
    ),
    "concert": (
        [
            "Saw {band} at {venue} last night, {cdetail}.",
            "{band} live at {venue}! {cdetail_cap}.",
            "Went to the {band} gig at {venue} with {who}; {cdetail}.",
            "Ears still ringing from {band} at {venue}. {cdetail_cap}.",
            "Caught {band} at {venue}, {cdetail}.",
            "Concert night: {band}, {venue}, {cdetail}.",
        ],
        [
            "Sounds like a great gig!",
            "Which song did {band} open with?",
            "Hope your ears recover soon.",
            "Live music is the best. Glad you went.",
        ],
        ["Where did I see {band}?", "Which venue did I see {band} at?"],
        "{venue_cap}",
        "Which band did I see live in {period}?",
    ),
    "film": (
        [
            "Watched {film} at the cinema with {who}; {fopinion}.",
            "Saw {film} on the big screen tonight with {who}. {fopinion_cap}.",
            "Cinema trip with {who}: {film}. {fopinion_cap}.",
            "{film} at the pictures with {who}, {fopinion}.",
            "Finally went to see {film} with {who}. {fopinion_cap}.",
        ],
        [
            "Did {who} like {film} too?",
            "I've heard mixed things about {film}, so that's useful.",
            "Popcorn or no popcorn?",
            "Nice, a cinema night is always good.",
        ],
        ["Who did I watch {film} with?", "Who came with me to see {film}?"],
        "{who}",
        "Which film did I see at the cinema in {period}?",
    ),
    "furniture": (
        [
            "Bought {item_a} for the flat, {fdetail}.",
            "New {item} arrived today! {fdetail_cap}.",
            "Treated myself to {item_a}; {fdetail}.",
            "Got {item_a} at last, {fdetail}.",
            "The {item} I ordered turned up: {fdetail}.",
            "Picked up {item_a} at the weekend, {fdetail}.",
        ],
        [
            "Nice upgrade! Where did it end up going?",
            "Enjoy the new {item}.",
            "Home improvements are so satisfying.",
            "Ooh. Photos or it didn't happen!",
        ],
        [],
        "",
        "What piece of furniture did I buy in {period}?",
    ),
    "hike": (
        [
            "Did {trail} with {who}, {hdetail}.",
            "Walked {trail} today with {who}. {hdetail_cap}.",
            "{trail_cap} with {who} this morning: {hdetail}.",
            "Hiked {trail}, just me and {who}; {hdetail}.",
            "Big walk today, {trail} with {who}. {hdetail_cap}.",
        ],
        [
            "Sounds like a proper day out!",
            "Make sure you stretch tonight.",
            "How long was the route?",
            "Lovely, fresh air does wonders.",
        ],
        ["Who did I walk {trail} with?", "Who came with me on {trail}?"],
        "{who}",
        "Where did I go hiking in {period}?",
    ),
}

# --- "when did I ..." events, and their later mentions (hard negatives) ---------------

FIRSTS: list[tuple[str, list[str], list[str], list[str]]] = [
    # (topic, statements, questions, later mentions)
    (
        "pottery",
        [
            "Just got home from my first pottery class, my bowl looks like an ashtray.",
            "Started a pottery class tonight! Wheel throwing is harder than it looks.",
            "Went to the pottery studio for the first lesson of the course, covered in clay.",
        ],
        ["When did I start the pottery class?", "When was my first pottery lesson?"],
        [
            "Pottery again tonight, finally centred the clay.",
            "Glazed three mugs at pottery, one survived the kiln.",
        ],
    ),
    (
        "climbing",
        [
            "Signed up at the bouldering gym today and did my first session.",
            "Tried bouldering for the first time, my forearms are on fire.",
        ],
        ["When did I take up bouldering?", "When was my first bouldering session?"],
        ["Bouldering tonight, sent my first blue route.", "Bouldering was packed this evening."],
    ),
    (
        "running club",
        [
            "Went to the running club's Tuesday session for the first time.",
            "Joined the local running club today, they're a friendly bunch.",
        ],
        ["When did I join the running club?", "When did I first go to the running club?"],
        ["Running club did hill repeats, brutal.", "Skipped running club, too tired."],
    ),
    (
        "flu",
        [
            "Woke up with a fever and a sore throat, I think it's the flu.",
            "Feeling awful, temperature and aches everywhere. Flu, probably.",
        ],
        ["When did I come down with the flu?", "When did I get the flu?"],
        ["Still coughing but the fever's gone.", "Finally feeling human again after being ill."],
    ),
    (
        "passport",
        [
            "Sent off my passport renewal form today, fingers crossed it's quick.",
            "Posted the passport renewal application this morning.",
        ],
        ["When did I send off the passport renewal?", "When did I apply to renew my passport?"],
        ["Still no sign of the new passport.", "The passport office says six more weeks."],
    ),
    (
        "haircut",
        [
            "Got a really short haircut today, a pixie cut. Feels weird.",
            "Chopped it all off today, full pixie cut.",
        ],
        ["When did I get the pixie cut?", "When did I have my hair cut into a pixie cut?"],
        ["Getting used to the short hair.", "People keep not recognising me with the new hair."],
    ),
    (
        "food bank",
        [
            "First shift volunteering at the food bank today, sorted tins for three hours.",
            "Did my first volunteer shift at the food bank this afternoon.",
        ],
        ["When did I start volunteering at the food bank?", "When was my first food bank shift?"],
        ["Food bank shift again, we packed a hundred boxes.", "Missed my food bank shift, sick."],
    ),
    (
        "language course",
        [
            "Started the evening Italian course at the college tonight.",
            "First Italian class this evening, the teacher only speaks Italian to us.",
        ],
        ["When did I start the Italian course?", "When was my first Italian class?"],
        ["Italian homework is piling up.", "Had to introduce myself in Italian tonight, awkward."],
    ),
    (
        "braces",
        [
            "Got my braces off today! My teeth feel so smooth.",
            "Braces finally came off this morning.",
        ],
        ["When did I get my braces off?", "When were my braces removed?"],
        ["Wearing the retainer every night now.", "The retainer makes me lisp, ugh."],
    ),
    (
        "knitting",
        [
            "Cast on my first knitting project, a scarf. Very lumpy so far.",
            "Taught myself to knit from videos today, started a scarf.",
        ],
        ["When did I start knitting?", "When did I begin my first knitting project?"],
        ["The scarf is now a metre long.", "Dropped a stitch and unravelled half the scarf."],
    ),
    (
        "therapy",
        [
            "Had my first session with a therapist today. It went better than I feared.",
            "Started seeing a therapist, first appointment was this afternoon.",
        ],
        ["When did I start seeing a therapist?", "When was my first therapy session?"],
        ["Therapy was heavy today.", "My therapist suggested journaling, trying it."],
    ),
    (
        "sourdough",
        [
            "Made a sourdough starter from scratch today, named it Doughbi.",
            "Mixed flour and water and now I own a sourdough starter.",
        ],
        ["When did I make my sourdough starter?", "When did I start my sourdough starter?"],
        ["First sourdough loaf came out flat as a pancake.", "Fed the starter, it smells odd."],
    ),
]
FIRST_REPLIES = [
    "Thanks for telling me. How are you feeling about it?",
    "Noted! Keep me posted.",
    "Let me know how it goes.",
    "Okay, I'll remember that.",
]
LATER_REPLIES = ["Keep at it!", "That's how it goes sometimes.", "Ha, progress!", "Hang in there."]

# --- paraphrase pairs: statement and question written together, sharing no word stem ---

PARAPHRASES: list[tuple[str, list[str], list[str], str, dict[str, list[str]]]] = [
    # (topic, statements, questions, answer, slots); {sister}, {friend}, {cur} come from persona
    (
        "dog",
        [
            "I finally adopted a {breed} puppy from the shelter, we're calling him {pup}.",
            "Meet {pup}: a {breed} puppy, eleven weeks old, adopted this morning.",
            "We brought home a little {breed} puppy today. {pup} has already chewed a slipper.",
        ],
        ["What breed of dog did I get?", "Which sort of hound joined my household?"],
        "A {breed} puppy called {pup}",
        {
            "breed": ["beagle", "dachshund", "whippet", "corgi", "border collie", "spaniel"],
            "pup": PUPPY_NAMES,
        },
    ),
    (
        "medication",
        [
            "My physician put me on {med} for the blood pressure, one tablet each morning.",
            "Blood pressure was high again at the surgery, so now I take {med} daily.",
        ],
        ["Which drug was prescribed by my doctor?", "What medicine am I on for hypertension?"],
        "{med}, for blood pressure",
        {"med": ["lisinopril", "amlodipine", "ramipril", "losartan"]},
    ),
    (
        "car",
        [
            "Traded in the old hatchback, I'm driving a {car} now.",
            "Picked up a used {car} from a dealer outside town, no more borrowing Dad's.",
        ],
        ["What automobile do I own?", "Which vehicle belongs to me?"],
        "A {car}",
        {"car": ["Skoda Octavia estate", "Toyota Yaris hybrid", "Volvo V60", "Mazda 3"]},
    ),
    (
        "instrument",
        [
            "Started {instr} lessons, my teacher {teacher} comes round on Thursdays.",
            "I've picked up the {instr} at last, {teacher} is teaching me once a week.",
        ],
        ["Which musical instrument am I studying?", "What am I taking music classes for?"],
        "The {instr}",
        {
            "instr": ["cello", "violin", "saxophone", "clarinet", "ukulele"],
            "teacher": ["Mr Okonjo", "Fenna", "Mrs Lavigne", "Dario"],
        },
    ),
    (
        "engagement",
        [
            "My sister {sister} got engaged to {fiance} at the weekend, he proposed at a picnic.",
            "Big family news: {sister} and {fiance} are engaged!",
        ],
        ["Who is my sibling going to marry?", "Whom will my sibling wed?"],
        "{fiance}",
        {"fiance": FIANCES},
    ),
    (
        "dishwasher",
        [
            "Got a dishwasher installed, no more scrubbing pans by hand.",
            "The plumber fitted our dishwasher this morning, bye bye washing-up.",
        ],
        ["Which kitchen appliance did I purchase?", "What labour-saving machine did I acquire?"],
        "A dishwasher",
        {},
    ),
    (
        "rent",
        [
            "My landlord is raising the rent by {cur}{amount} a month from next quarter.",
            "Letter from the landlord today: rent goes up {cur}{amount} monthly soon. Ugh.",
        ],
        ["How much more will housing cost me?", "By what sum is my accommodation getting dearer?"],
        "{cur}{amount} more per month in rent",
        {"amount": ["80", "95", "120", "150", "200"]},
    ),
    (
        "eyes",
        [
            "Booked the laser eye surgery, no more contacts or glasses after it, fingers crossed.",
            "Laser eye surgery is booked! Goodbye contact lenses.",
        ],
        ["What procedure am I having on my vision?", "Which operation for my sight did I arrange?"],
        "Laser eye surgery",
        {},
    ),
    (
        "driving",
        [
            "I passed my driving test on the second attempt!",
            "Second try and I passed the driving test, L plates are in the bin.",
        ],
        ["Which exam did I succeed at?", "What exam did I get through?"],
        "The driving test, on the second attempt",
        {},
    ),
    (
        "friend moving",
        [
            "{friend} is relocating to {city} in a few weeks, {pos} new employer is based there.",
            "Sad news, {friend} is relocating to {city} for work.",
        ],
        [
            "Who among my mates is moving away, and to which city?",
            "Which pal is leaving, for where?",
        ],
        "{friend}, to {city}",
        {"city": ["Singapore", "Nairobi", "Vancouver", "Sydney", "Boston", "Seoul"]},
    ),
    (
        "migraines",
        [
            "I've been having migraines most afternoons lately.",
            "Third afternoon in a row with a pounding migraine.",
        ],
        ["What health complaint keeps bothering me?", "Which recurring ailment did I report?"],
        "Migraines in the afternoons",
        {},
    ),
    (
        "allotment",
        [
            "Signed the lease on an allotment plot, going to grow tomatoes and beans.",
            "We got an allotment! Tomatoes and beans first.",
        ],
        ["What gardening space did I rent?", "Where will I raise vegetables?"],
        "An allotment plot",
        {},
    ),
    (
        "smoking",
        [
            "I quit smoking, day ten without a cigarette.",
            "Binned my last pack of cigarettes, ten days clean now.",
        ],
        ["Which habit did I give up?", "What vice have I kicked?"],
        "Smoking",
        {},
    ),
    (
        "boiler",
        [
            "Our boiler died, a plumber is coming to replace it next week.",
            "No hot water, the boiler packed in. Replacement booked.",
        ],
        ["What broke down in my house?", "Which heating equipment failed at home?"],
        "The boiler",
        {},
    ),
    (
        "interns",
        [
            "I've been asked to mentor two interns at the office.",
            "Guess who's mentoring two interns from next week. Me!",
        ],
        ["What extra responsibility was I given at my job?", "What new duty did I take on?"],
        "Mentoring two interns",
        {},
    ),
    (
        "grandmother",
        [
            "My grandmother turned ninety, we threw her a party at the village hall.",
            "Gran's ninetieth was today, the whole village hall sang to her.",
        ],
        [
            "Which relative had a big birthday celebration?",
            "Who in my family reached a milestone age?",
        ],
        "My grandmother, who turned 90",
        {},
    ),
    (
        "ankle",
        [
            "I sprained my ankle playing five-a-side.",
            "Rolled my ankle at five-a-side, it's swollen like a grapefruit.",
        ],
        ["What injury did I pick up during football?", "How did I hurt myself at soccer?"],
        "A sprained ankle",
        {},
    ),
    (
        "language",
        [
            "I'm learning {lang} on an app, twenty minutes every morning.",
            "Twenty minutes of {lang} on my phone app each morning, streak going strong.",
        ],
        ["Which foreign tongue am I studying?", "What language do I practise?"],
        "{lang}",
        {"lang": ["Portuguese", "Japanese", "Korean", "Greek", "Dutch"]},
    ),
    (
        "streaming",
        [
            "Cancelled {service}, we never watched anything on it.",
            "Dropped {service} today, nobody here used it anyway.",
        ],
        ["Which subscription did I stop paying for?", "What TV service did I ditch?"],
        "{service}",
        {"service": ["Netflix", "Disney Plus", "Paramount Plus", "Crunchyroll", "Mubi"]},
    ),
    (
        "student loan",
        [
            "Paid off the student loan, last instalment went out this morning.",
            "The student loan is gone! Final payment cleared today.",
        ],
        ["Which debt did I clear?", "What do I no longer owe money on?"],
        "My student loan",
        {},
    ),
    (
        "blood",
        [
            "Donated blood for the first time at the hospital, they gave me a biscuit.",
            "First time giving blood today, felt a bit woozy after.",
        ],
        ["What did I contribute to help patients?", "What did I provide for transfusions?"],
        "Blood, for the first time",
        {},
    ),
    (
        "loft",
        [
            "We're having the loft converted into a guest bedroom.",
            "Builders start on the loft next week, it'll be a spare bedroom.",
        ],
        ["What renovation is happening in my attic?", "What is the attic being turned into?"],
        "A loft conversion into a guest bedroom",
        {},
    ),
    (
        "sleep",
        [
            "I've been sleeping badly, waking at four almost every night.",
            "Awake at four again. This is every night now.",
        ],
        ["What insomnia problem did I mention?", "What trouble do I have with rest?"],
        "Waking at 4am most nights",
        {},
    ),
    (
        "glasses",
        [
            "Got glasses for the first time, the optician says I'm short-sighted.",
            "Turns out I'm short-sighted, picked up my first pair of glasses.",
        ],
        ["What did the eye test find?", "What vision problem was diagnosed?"],
        "Short-sighted; now wears glasses",
        {},
    ),
    (
        "choir",
        [
            "Joined a choir that rehearses in the church hall on Tuesdays.",
            "Tuesday nights are choir now, we rehearse at the church hall.",
        ],
        ["What singing group am I part of?", "What vocal ensemble did I sign up to?"],
        "A choir (Tuesdays, church hall)",
        {},
    ),
    (
        "energy",
        [
            "We switched electricity supplier to {supplier}, should save a bit.",
            "Moved our electricity over to {supplier} today.",
        ],
        ["Which energy company do we use?", "Who provides power to our home?"],
        "{supplier}",
        {"supplier": ["Octopus", "Ecotricity", "Voltwise", "Bulb"]},
    ),
    (
        "half marathon",
        [
            "I ran my first half marathon in {time}!",
            "Half marathon done, first ever, {time} on the clock.",
        ],
        ["How fast did I finish the 21k race?", "What was my result in the thirteen-mile event?"],
        "{time}",
        {"time": ["1:58:40", "2:06:12", "1:51:05", "2:14:30"]},
    ),
    (
        "pet teeth",
        [
            "{petname} needs a tooth pulled, the vet quoted {cur}{price}.",
            "Vet says {petname} has a rotten tooth that has to come out, {cur}{price}.",
        ],
        ["What dental treatment is my pet due for?", "Which dental procedure awaits my animal?"],
        "A tooth extraction",
        {"price": ["180", "240", "320", "410"]},
    ),
    (
        "shed",
        [
            "The neighbour's tree fell onto our shed in the storm.",
            "Storm last night, a branch from next door's tree flattened the shed.",
        ],
        ["What damaged my garden building?", "What wrecked the hut out back?"],
        "The neighbour's tree fell on it",
        {},
    ),
    (
        "watch",
        [
            "Grandad left me his old watch, a 1960s Omega.",
            "Grandad's 1960s Omega watch is mine now, he wanted me to have it.",
        ],
        ["What heirloom did I inherit?", "Which keepsake was bequeathed to me?"],
        "Grandad's 1960s Omega watch",
        {},
    ),
    (
        "governor",
        [
            "I've signed up as a school governor.",
            "Went to my first meeting as a school governor.",
        ],
        ["What voluntary education role did I take on?", "Which unpaid board am I on?"],
        "School governor",
        {},
    ),
]
PARAPHRASE_REPLIES = [
    "Thanks for letting me know.",
    "Oh wow, that's a lot!",
    "Noted.",
    "How do you feel about it?",
    "That's quite something.",
    "I'll remember that.",
]

# --- facts that change: the question asks for the latest value ------------------------

UPDATES: dict[str, tuple[list[str], list[str], list[str]]] = {
    # topic: (first statements, change statements, questions); slots {v}, {old}, extras
    "city": (
        [
            "Rent in {v} is getting ridiculous, my flat here costs a fortune.",
            "It's been raining in {v} for a week straight.",
            "I've lived in {v} about three years now and I still get lost in the old town.",
            "Typical {v} weekend: market, coffee, rain.",
        ],
        [
            "We did it, we moved to {v}! Boxes everywhere.",
            "Officially living in {v} now, the move from {old} went okay.",
            "New city, new flat: I'm in {v} now.",
            "First night in the new place in {v}. {old} already feels far away.",
            "The removal van left {old} at dawn; we're settled in {v}.",
        ],
        ["Which city do I live in now?", "Where am I living these days?"],
    ),
    "job": (
        [
            "Long day at {v}, being a {role} there is wearing me out.",
            "My team at {v} is great, best part of being a {role}.",
            "As the only {role} at {v} I get pulled into everything.",
        ],
        [
            "I accepted the offer from {v}! I'll be a {role} there.",
            "Last day at {old} today; I start at {v} as a {role} on Monday.",
            "Signed the contract with {v}, new role as {role}.",
        ],
        ["Where do I work now?", "Who is my current employer?"],
    ),
    "phone": (
        [
            "My {v} is on its last legs, battery barely lasts till lunch.",
            "Dropped my {v} again, the screen is a spiderweb now.",
            "Took a hundred photos on my {v} today, the storage is full.",
        ],
        [
            "Caved and bought a {v}.",
            "Upgraded to a {v}, transferring everything tonight.",
            "The {v} arrived, bye bye {old}.",
            "Switched phones: {v} now, the {old} is going to my brother.",
        ],
        ["What phone do I use these days?", "Which phone have I got now?"],
    ),
    "diet": (
        [
            "I'm doing {v} at the moment, {detail}.",
            "Been eating {v} for a while, {detail}.",
        ],
        [
            "New plan: I've switched to {v}, {detail}.",
            "Done with {old}. Going {v} from today, {detail}.",
            "On the doctor's advice I'm trying {v} now: {detail}.",
        ],
        ["What diet am I following now?", "How am I eating these days?"],
    ),
    "partner": (
        [
            "{v} and I have been together two years now.",
            "Date night with {v} tonight, finally.",
            "{v} cooked for me tonight, I'm spoilt.",
        ],
        [
            "I've been seeing someone new, {v}; we met at {where}.",
            "Third date with {v} tonight, I really like them. We met at {where}.",
            "{v} and I made it official. Still can't believe we met at {where}.",
        ],
        ["Who am I dating now?", "Who is my partner these days?"],
    ),
    "gym": (
        [
            "Did legs at {v} before work.",
            "{v} is rammed at six, I need a new slot.",
        ],
        [
            "Switched gyms, I'm at {v} now.",
            "Cancelled my {old} membership and joined {v}.",
            "New gym: {v}. Cheaper and the showers actually work.",
        ],
        ["Which gym do I go to now?", "Where do I work out these days?"],
    ),
    "commute": (
        [
            "Every morning I {phrase} to the office, about forty minutes.",
            "Honestly I don't mind that I {phrase} to work, it's thinking time.",
        ],
        [
            "New routine: I {phrase} to work now.",
            "Gave up on the old commute, I {phrase} to the office these days.",
            "From this week I {phrase} in to work instead.",
        ],
        ["How do I get to work these days?", "What's my commute now?"],
    ),
    "mileage": (
        [
            "I'm running about {v} km a week at the moment.",
            "Logged {v} km of running this week, my usual.",
        ],
        [
            "Up to {v} km a week now!",
            "Weekly running mileage is {v} km these days.",
            "Bumped my running to {v} km a week.",
        ],
        ["How many kilometres a week am I running now?", "What's my weekly running distance?"],
    ),
    "laptop": (
        [
            "My {v} is so slow, takes five minutes to boot.",
            "The hinge on my {v} is cracking.",
        ],
        [
            "New laptop day: a {v}!",
            "Work finally gave me a {v}, the {old} is retired.",
        ],
        ["What laptop am I using now?", "Which laptop do I have these days?"],
    ),
    "car": (
        [
            "My old {v} failed its inspection again.",
            "The {v} needs new tyres, of course.",
        ],
        [
            "Bought a {v} and sold the {old}.",
            "Picked up the keys to a {v} today.",
        ],
        ["What car do I drive now?", "Which car do I have at the moment?"],
    ),
    "manager": (
        [
            "My manager {v} wants the report by Friday.",
            "Had my one-to-one with {v}, my manager; it went fine.",
        ],
        [
            "We got a new manager, {v}; {old} moved to another team.",
            "Reorg: I report to {v} now.",
        ],
        ["Who is my manager now?", "Who do I report to at the moment?"],
    ),
}
UPDATE_REPLIES = [
    "Big change! How are you finding it?",
    "Thanks, I'll update my notes.",
    "Noted, that's the new normal then.",
    "Good luck with it!",
]
PARTNER_WHERE = ["a friend's wedding", "climbing", "a pub quiz", "a language exchange", "work"]
BREAKUPS = [
    "{old} and I broke up. It was mutual, mostly.",
    "It's over with {old}. I'm okay, just sad.",
]

# --- preferences stated once, early; asked about months later ---------------------------

PREFERENCES: list[tuple[str, list[str], list[str], list[str]]] = [
    # (topic, values, statements, questions [sharing words, paraphrased])
    (
        "coffee",
        [
            "flat white with oat milk",
            "double espresso, no sugar",
            "iced americano",
            "cortado",
            "black filter coffee",
        ],
        [
            "I'm a {v} person, every single morning.",
            "Honestly nothing beats a {v} first thing.",
            "My coffee order never changes: {v}.",
            "Whenever there's a choice I go for a {v}.",
        ],
        ["What kind of coffee do I like?", "How do I take my morning caffeine?"],
    ),
    (
        "seat",
        ["window seat", "aisle seat"],
        [
            "Always the {v} for me on planes, I can't do the middle.",
            "On flights I book the {v} every time.",
            "Tip for booking me anything: {v}, always.",
        ],
        ["Which seat do I prefer on planes?", "Where do I like to sit when I fly?"],
    ),
    (
        "focus",
        ["lo-fi beats", "baroque music", "film soundtracks", "complete silence"],
        [
            "I can only concentrate with {v} on.",
            "When I need to focus it has to be {v}.",
            "Deep work for me means {v} in the headphones.",
        ],
        ["What do I need in order to concentrate?", "What helps me get into a productive zone?"],
    ),
    (
        "cuisine",
        ["Thai", "Ethiopian", "Georgian", "Sichuan", "Lebanese", "Peruvian"],
        [
            "If I could eat one cuisine forever it'd be {v}.",
            "{v} food is my absolute favourite, always has been.",
            "Given the choice, I'll pick {v} every time we eat out.",
        ],
        ["What's my favourite cuisine?", "Which country's dishes would I choose above all?"],
    ),
    (
        "stays",
        [
            "small family-run guesthouses",
            "big hotels with a gym and a pool",
            "flats with a kitchen",
        ],
        [
            "When I travel I always go for {v}.",
            "Give me {v} over anything else when I'm away.",
        ],
        [
            "What kind of places do I like to stay in when I travel?",
            "What accommodation do I favour on trips?",
        ],
    ),
    (
        "workout time",
        ["first thing in the morning", "late in the evening", "at lunchtime"],
        [
            "I only ever manage to exercise {v}.",
            "My workouts happen {v}, otherwise they don't happen.",
        ],
        ["When do I prefer to exercise?", "At what time of day do I like to train?"],
    ),
    (
        "holidays",
        ["mountains and hiking", "lazy beach holidays", "city breaks with museums"],
        [
            "My ideal holiday is {v}, every time.",
            "Nothing recharges me like {v}.",
        ],
        ["What's my ideal holiday?", "What sort of vacation do I enjoy most?"],
    ),
    (
        "tea",
        ["Earl Grey", "builder's tea with two sugars", "green tea", "rooibos", "fresh mint tea"],
        [
            "Tea-wise, I'm all about {v}.",
            "Afternoons mean {v}, non-negotiable.",
        ],
        ["What tea do I drink?", "Which hot brew do I reach for in the afternoon?"],
    ),
    (
        "wine",
        ["a crisp Riesling", "a big Malbec", "dry rose", "a Rioja"],
        [
            "If there's wine, I'm having {v}.",
            "For the record, my wine is {v}.",
        ],
        ["What wine do I like?", "What should a host pour for me at a dinner party?"],
    ),
    (
        "pizza",
        [
            "anchovies and capers",
            "pineapple and jalapeno",
            "mushroom and truffle",
            "plain margherita",
        ],
        [
            "Pizza order, for the record: {v}.",
            "My pizza is always {v}, don't judge.",
        ],
        ["What do I like on my pizza?", "What toppings should go on a Neapolitan pie for me?"],
    ),
    (
        "dislike",
        ["coriander", "olives", "blue cheese", "raw onion", "aubergine"],
        [
            "I can't stand {v}, it ruins any dish.",
            "Please never let me order anything with {v}.",
        ],
        ["Which ingredient do I hate?", "What food should be kept off my plate?"],
    ),
    (
        "films",
        ["horror", "romcoms", "documentaries", "sci-fi", "old westerns"],
        [
            "For a film night I always pick {v}.",
            "I could watch {v} all day, my favourite kind of film.",
        ],
        ["What kind of films do I like?", "Which movie genre would I choose for a night in?"],
    ),
    (
        "reading",
        ["paper books", "my e-reader", "audiobooks"],
        [
            "I much prefer {v} for reading.",
            "Reading for me means {v}, nothing else works.",
        ],
        ["How do I prefer to read?", "In what format do I like my books?"],
    ),
    (
        "contact",
        ["texts", "voice notes", "phone calls", "email"],
        [
            "I'd much rather get {v} than anything else, just so you know.",
            "People who know me send {v}; that's what I like.",
        ],
        ["How do I prefer people to contact me?", "What's the best way to reach me?"],
    ),
    (
        "ice cream",
        ["pistachio", "salted caramel", "lemon sorbet", "mint choc chip"],
        [
            "Ice cream: {v}, always.",
            "The only ice cream worth having is {v}.",
        ],
        ["What ice cream flavour do I like?", "Which frozen dessert flavour is my favourite?"],
    ),
    (
        "chronotype",
        ["a night owl", "a morning person"],
        [
            "I'm {v}, always have been.",
            "Being {v} is just who I am.",
        ],
        ["Am I a morning person or a night owl?", "When am I at my most alert?"],
    ),
    (
        "music",
        ["jazz", "80s synth pop", "hip hop", "folk"],
        [
            "My go-to music at home is {v}.",
            "Put on {v} and I'm happy.",
        ],
        ["What music do I like?", "Which genre do I play around the house?"],
    ),
]
PREFERENCE_REPLIES = [
    "Noted, I'll remember that.",
    "Good to know!",
    "A person of taste.",
    "I'll keep that in mind for recommendations.",
]

# --- multi-session answers ------------------------------------------------------------

WEEKEND_PLACES = ["Bath", "Whitby", "Annecy", "Colmar", "Delft", "San Sebastian", "Hastings"]
MULTI_STATEMENTS = {
    "gifts": [
        "Got {sister} {gift} for her birthday.",
        "Picked up {gift} for {sister}, she's been hinting for ages.",
        "Ordered {gift} for {sister} as a thank-you for helping me out.",
        "Wrapped {gift} for {sister}, can't wait to see her face.",
        "Found {gift} for {sister} at the market.",
    ],
    "other gifts": [
        "Got {who} {gift}, hope it fits the bill.",
        "Bought {gift} for {who}, it was on sale.",
    ],
    "work trips": [
        "Off to {city} on Monday for a client workshop.",
        "Flying to {city} for work tomorrow, three days of meetings.",
        "Just back from the {city} office, the team there is great.",
        "Work sent me to {city} for the conference, the hotel is grim.",
        "Two days in {city} for the supplier audit, exhausting.",
    ],
    "races": [
        "Ran {race} this morning in {time}!",
        "{race_cap} done: {time}.",
        "Finished {race} in {time}, legs are jelly.",
    ],
    "bike": [
        "Bought a {bike} for {cur}{price}. Commuting in style.",
        "Helmet, lights and a lock for the bike came to another {cur}{price}.",
        "The bike's first service cost {cur}{price}.",
    ],
    "weekends": [
        "Weekend in {place} with {f}, we walked everywhere.",
        "{f} and I did a quick trip to {place}, mostly ate.",
        "Back from two nights in {place} with {f}.",
    ],
    "dentist": [
        "Dentist today, {reason}.",
        "Another dentist appointment, {reason} this time.",
        "Back at the dentist for {reason}.",
    ],
    "book club": [
        "Book club's pick this month is {book}.",
        "We're reading {book} for book club.",
        "Book club tonight, we argued about {book} for two hours.",
    ],
    "plants": [
        "Added {plant_a} to the balcony.",
        "New balcony resident: {plant_a}.",
        "Bought {plant_a} for the balcony, fingers crossed it survives.",
    ],
    "rooms": [
        "Painted the {room} {colour} this weekend.",
        "The {room} is {colour} now, two coats.",
        "Finished repainting the {room}, went with {colour}.",
    ],
}
MULTI_QUESTIONS = {
    "gifts": [
        "What gifts have I bought for my sister {sister}?",
        "What presents did {sister} get?",
    ],
    "work trips": ["Which cities have I travelled to for work?", "Where have work trips taken me?"],
    "races": ["Which races have I run, and in what times?", "What were my race results?"],
    "bike": [
        "How much have I spent on the bike and its gear in total?",
        "What has the bike cost me altogether, with extras?",
    ],
    "weekends": [
        "Where have I been on weekends away with {f}?",
        "Which trips did I take with {f}?",
    ],
    "dentist": [
        "How many times have I been to the dentist, and what for?",
        "How often did I see the dentist, and why?",
    ],
    "book club": ["Which books has my book club picked?", "What have we read in book club?"],
    "plants": ["What plants have I bought for the balcony?", "What is growing on my balcony?"],
    "rooms": [
        "Which rooms have I repainted, and in what colours?",
        "What colours did I paint which rooms?",
    ],
}
MULTI_REPLIES = ["Nice!", "Sounds good.", "Noted.", "Lovely.", "Oh, fun.", "Good to hear."]
BIKES = ["gravel bike", "secondhand road bike", "folding bike", "cargo bike"]

# --- filler: greetings, small talk, requests for help, scheduling, goodbyes ------------

GREETINGS = [
    ("Hey, it's me again.", "Hi! Good to hear from you. What's on your mind?"),
    ("Morning! Got a minute?", "Always. What's up?"),
    ("Hi there.", "Hello! How can I help today?"),
    ("Evening. Long day.", "Sorry it was a long one. Want to talk it through?"),
    ("Back again with a few things.", "Great, fire away."),
    ("Hello hello.", "Hi! What's new?"),
    ("Hey, quick catch-up?", "Sure, I'm here."),
    ("Good morning!", "Good morning! How did you sleep?"),
    ("Hiya.", "Hey! What can I do for you?"),
    ("Okay, brain dump time.", "Go for it, I'm listening."),
    ("Hey. Grey one today.", "Good weather for getting things done indoors. What's up?"),
    ("Hi! Is this a good time?", "Any time is a good time. What's going on?"),
    ("Right, where were we.", "Happy to pick up wherever you like."),
    ("Sunday check-in.", "Lovely. How's your weekend been?"),
    ("Morning, coffee in hand.", "Sounds like a good start. What's on the agenda?"),
    ("Hey, can't sleep.", "Sorry to hear that. Want to chat for a bit?"),
    ("Lunch break, let's be quick.", "Quick it is. What do you need?"),
    ("Hi, me again, sorry.", "No need to apologise! What's up?"),
    ("Friday at last.", "Made it! Any plans?"),
    ("Hey you.", "Hey! How's it going?"),
]
CLOSINGS = [
    ("Thanks, that's all for now.", "Anytime. Talk soon!"),
    ("Perfect, talk later.", "Sounds good, take care."),
    ("Okay, off to bed.", "Sleep well!"),
    ("Great, that helps a lot.", "Glad to hear it."),
    ("Cheers!", "You're welcome."),
    ("Right, back to work.", "Good luck with the rest of the day."),
    ("That's everything, thanks.", "My pleasure, see you next time."),
    ("Gotta run, bye!", "Bye for now!"),
    ("Thanks for listening.", "Always here when you need me."),
    ("Okay, I'll let you go.", "Chat soon!"),
    ("Brilliant, thank you.", "Happy to help."),
    ("Night!", "Good night!"),
    ("Okay, dinner's ready, bye.", "Enjoy your dinner!"),
    ("Thanks, you're a star.", "Aw, anytime."),
]
SMALL_TALK = [
    ("Ugh, Mondays.", "Mondays are rough. Anything I can take off your plate?"),
    ("{pet_name} knocked a glass off the table again.", "Classic. Hope nothing got broken!"),
    ("It's absolutely freezing today.", "Layers and a hot drink, then."),
    ("I've had about four coffees already.", "Maybe switch to water for a bit?"),
    ("Can't believe how fast this week went.", "Time flies. Anything good happen?"),
    ("{colleague} brought cake into the office.", "The best kind of office news."),
    ("Watching the rain and doing nothing. Bliss.", "Sounds like exactly what you needed."),
    ("My neighbour is drilling again.", "Headphones might be your friend today."),
    ("I keep forgetting to drink water.", "Want a reminder every couple of hours?"),
    ("Traffic was horrendous this morning.", "Annoying start. Did you make it on time?"),
    ("I'm so tired I could sleep at my desk.", "A short walk outside can help more than caffeine."),
    ("The sun's finally out!", "Make the most of it!"),
    ("Spent the morning doing laundry, glamorous life.", "Someone's got to do it."),
    ("{sister} called, we talked for two hours.", "Sounds like a good catch-up."),
    ("{pet_name} is snoring next to me.", "That's adorable."),
    ("I think I'm getting a cold.", "Rest up and keep warm."),
    ("Power cut for an hour tonight, read by candlelight.", "Very atmospheric!"),
    ("Wifi is being terrible today.", "Have you tried restarting the router?"),
    ("Ate way too much at lunch.", "A gentle walk might help."),
    ("Nothing much to report today.", "Quiet days are good too."),
    ("{brother} sent me a meme that made me cry laughing.", "Siblings know what gets you."),
    ("Why do I always volunteer for things?", "Because you're kind. Saying no is fine too."),
    ("Got caught in the rain without a coat.", "Oh no, hot shower time."),
    ("Feeling pretty good today, honestly.", "Love to hear it!"),
    ("My to-do list is three pages long.", "Want to prioritise it together?"),
    ("Finally cleaned the fridge.", "Very satisfying job."),
    ("The bins didn't get collected again.", "Worth reporting to the council."),
    ("I burnt the toast. Again.", "Toast is a delicate art."),
    ("Had a weird dream about being late for an exam.", "A very common stress dream!"),
    ("{friend} cancelled on me last minute.", "That's frustrating. Did they say why?"),
    ("Did a twenty-minute tidy and the place looks new.", "Small efforts add up."),
    ("Forgot my umbrella at the cafe.", "Hopefully they keep it for you."),
    ("The heating's on full and I'm still cold.", "Maybe the radiators need bleeding?"),
    ("Binge-watched a whole season of something yesterday.", "No judgement here!"),
    ("My screen time report this week is embarrassing.", "Those reports humble everyone."),
    ("{colleague} and I had a laugh about the printer again.", "That printer has a reputation."),
    ("{pet_name} has decided my keyboard is a bed.", "Hard to argue with that."),
    ("Long queue at the post office, lost an hour.", "Ugh, what a waste of time."),
    ("Bit of a headache today.", "Water, food and a break from the screen might help."),
    ("Had a lovely chat with the neighbour over the fence.", "Those moments are the best."),
]
HELP_REQUESTS = [
    (
        "Can you help me write a polite email to my landlord about the heating?",
        "Of course. Something like: 'Hi, the heating hasn't been working reliably since last"
        " week. Could you arrange for someone to take a look? I'm around most evenings.'"
        " Want it firmer?",
    ),
    (
        "What's a quick dinner with chickpeas and spinach?",
        "A chickpea and spinach curry: fry onion, garlic and ginger, add curry paste, a tin of"
        " tomatoes and the chickpeas, simmer ten minutes, stir in the spinach.",
    ),
    (
        "How long should I boil an egg for a runny yolk?",
        "About six minutes from boiling, then straight into cold water.",
    ),
    (
        "Give me three ideas for a rainy weekend.",
        "A museum you've never visited, a long cooking project like a stew, or a themed film"
        " marathon.",
    ),
    (
        "How do I get red wine out of a carpet?",
        "Blot, don't rub. Then washing-up liquid, white vinegar and warm water; blot again and"
        " rinse with cold water.",
    ),
    (
        "What's a good way to remember people's names?",
        "Repeat the name straight away, link it to something vivid, and use it once more before"
        " you part.",
    ),
    (
        "Can you explain compound interest simply?",
        "You earn interest on your interest: 5% on 100 gives 105, then 5% on 105 gives 110.25.",
    ),
    (
        "How do I politely decline a meeting?",
        "Thank them, say you can't make it, offer an alternative: 'I can't join this one, but"
        " happy to read the notes.'",
    ),
    (
        "What should I pack for a three-day work trip?",
        "Two outfits plus a spare, chargers, toiletries, a layer for cold meeting rooms. Roll"
        " your clothes.",
    ),
    (
        "Any tips for falling asleep faster?",
        "Same bedtime every day, no screens for the last half hour, a cool dark room, and write"
        " tomorrow's worries down.",
    ),
    (
        "How do I stop my houseplants dying?",
        "Most die from overwatering: check the soil is dry a couple of centimetres down first,"
        " and give them bright indirect light.",
    ),
    (
        "Can you make me a simple weekly workout plan?",
        "Monday strength, Wednesday a 30-minute run, Friday strength, Sunday a long walk.",
    ),
    (
        "How do I ask for a raise?",
        "Book a meeting, bring evidence of your impact and market rates, name a number, then"
        " listen.",
    ),
    (
        "Summarise the pros and cons of a heat pump.",
        "Pros: efficient, lower emissions, can cool too. Cons: upfront cost, needs good"
        " insulation and outdoor space.",
    ),
    (
        "How long does cooked rice keep in the fridge?",
        "About a day to be safe; cool it quickly and reheat until piping hot.",
    ),
    (
        "Help me plan a budget for next month.",
        "Fixed costs first, then amounts for food, transport and fun, and move savings on payday"
        " before anything else.",
    ),
    (
        "How do I stop procrastinating?",
        "Make the first step tiny, set a 25-minute timer, and put the phone in another room.",
    ),
    (
        "What's the difference between baking soda and baking powder?",
        "Soda needs an acid to react; powder already contains one, so it's milder.",
    ),
    (
        "Can you check this sentence: 'Their going to the meeting tomorrow'?",
        "It should be 'They're going to the meeting tomorrow.'",
    ),
    (
        "Ideas for a 30th birthday party that isn't a club?",
        "A long dinner, a karaoke room, a picnic, or a themed games night.",
    ),
    (
        "How do I descale a kettle?",
        "Half water, half white vinegar, boil, leave an hour, then rinse and boil fresh water"
        " twice.",
    ),
    (
        "Explain what an index fund is.",
        "A fund that tracks a whole market index, so you own a small slice of many companies at"
        " low cost.",
    ),
    (
        "What's a good warm-up before a run?",
        "Leg swings, walking lunges, high knees and hip circles: five minutes in all.",
    ),
    (
        "How do I write a good out-of-office message?",
        "Dates you're away, who to contact instead, and when you'll reply. Keep it short.",
    ),
    (
        "Suggest a name for a team chat channel about planning?",
        "How about #plan-it, #roadmap-room or #next-steps?",
    ),
    (
        "Is travel insurance worth it for a short trip?",
        "Usually yes: it's cheap and covers cancellations, lost luggage and medical costs.",
    ),
    (
        "How can I make my mornings less chaotic?",
        "Lay out clothes and pack your bag the night before; keep the first half hour screen-free.",
    ),
    (
        "What's the best way to learn to touch type?",
        "Ten minutes a day with a typing tutor, eyes on the screen, accuracy before speed.",
    ),
    (
        "How do I cook rice without it going mushy?",
        "Rinse it, 1.5 parts water to 1 of rice, simmer covered for 12 minutes, rest 10 off the"
        " heat.",
    ),
    (
        "Can you help me word a birthday message for {colleague}?",
        "'Happy birthday, {colleague}! Thanks for making the office a better place. Have a"
        " great one.'",
    ),
    (
        "What's a polite way to chase an unpaid invoice?",
        "'Just a gentle reminder that invoice 104 is now overdue. Could you let me know when to"
        " expect payment?'",
    ),
    (
        "Is it bad to charge my phone overnight?",
        "Modern phones manage charging well; an optimised-charging setting helps the battery last.",
    ),
]
SCHEDULING = [
    ("Remind me I have a call at three tomorrow.", "Noted: call at 3pm tomorrow."),
    ("Can we go over my week? Tuesday is packed.", "Sure. What's on Tuesday, and what can move?"),
    ("Put 'renew insurance' on my list.", "Added."),
    ("Move my run to Thursday, it's going to rain.", "Done, run moved to Thursday."),
    ("Remind me to water the plants on Sunday.", "I'll remind you Sunday morning."),
    (
        "I have three deadlines next week, help me order them.",
        "Start with the one others depend on, then the biggest, then the quickest.",
    ),
    ("Block out tomorrow until noon for deep work.", "Done: nine to twelve blocked."),
    ("Can you remind me to call {sister} at the weekend?", "Of course, Saturday morning."),
    ("Add milk, eggs and lemons to the shopping list.", "Added milk, eggs and lemons."),
    ("Let's plan Saturday: errands in the morning, free afternoon.", "Sounds balanced."),
    ("Remind me to book the vet for {pet_name}'s jabs.", "Will do."),
    ("Cancel my reminder about the gym, not going tonight.", "Removed."),
    ("Team dinner is next Thursday at seven, note it.", "Noted: team dinner, Thursday at 7pm."),
    ("What's left on my list for today?", "You wanted to reply to two emails and do the shopping."),
    ("Push my one-to-one with {colleague} to next week.", "Done, I've noted the new slot."),
]


# --- families: each places statements and proposes questions ---------------------------


def pick_slots(conv: Conversation, pools: dict[str, list[str]]) -> dict[str, str]:
    return {key: conv.rng.choice(values) for key, values in sorted(pools.items())}


def with_caps(slots: dict[str, str]) -> dict[str, str]:
    """Each slot also as `<name>_cap` (first letter upper-cased)."""
    return {**slots, **{f"{k}_cap": cap(v) for k, v in slots.items()}}


def companion(conv: Conversation) -> str:
    p = conv.persona
    return conv.rng.choice([f[0] for f in p.friends] + [p.sister, p.brother, p.colleagues[0]])


def restaurants(conv: Conversation, count: int) -> None:
    rng = conv.rng
    chosen = rng.sample(RESTAURANTS, count)
    verdicts = rng.sample(VERDICTS, count + 1)
    visits: list[tuple[str, str, str, Exchange]] = []
    for i, (name, dishes) in enumerate(chosen):
        dish = rng.choice(dishes)
        who = "on my own" if rng.random() < 0.2 else f"with {companion(conv)}"
        slots = with_caps(
            {"r": name, "dish": dish, "verdict": verdicts[i], "who": who}
            | {"occasion": rng.choice(OCCASIONS)}
        )
        exchange = Exchange(
            conv.say(RESTAURANT_VISIT, slots),
            conv.reply(RESTAURANT_REPLIES, slots),
            category="restaurant",
        )
        conv.place(exchange, hi=conv.n // 2 if i == 0 else None)
        visits.append((name, dish, verdicts[i], exchange))
    # Back to the first restaurant for another dish: same name, a different answer.
    name, dishes = chosen[0]
    dish = rng.choice([d for d in dishes if d != visits[0][1]])
    slots = with_caps(
        {"r": name, "dish": dish, "verdict": verdicts[-1], "who": f"with {companion(conv)}"}
        | {"occasion": rng.choice(OCCASIONS)}
    )
    revisit = Exchange(
        conv.say(RESTAURANT_REVISIT, slots),
        conv.reply(RESTAURANT_REPLIES, slots),
        category="restaurant",
    )
    conv.place(revisit, lo=visits[0][3].session + 1)
    visits.append((name, dish, verdicts[-1], revisit))
    for name, dish, verdict, exchange in visits:
        question = rng.choice(RESTAURANT_QUESTIONS).format(dish=dish, r=name)
        conv.candidate(
            Question("exact", question, cap(verdict), [(exchange, "user")], family="restaurant")
        )
        conv.period_candidate(
            "restaurant", exchange, "Which restaurant did I eat at in {period}?", name, "restaurant"
        )


def trips(conv: Conversation, count: int) -> None:
    rng = conv.rng
    dests = rng.sample(DESTINATIONS, count)
    hotels = rng.sample(HOTELS, count)
    verdicts = rng.sample(THING_VERDICTS, count)
    for (dest, things), hotel, tverdict in zip(dests, hotels, verdicts, strict=True):
        thing = rng.choice(things)
        conv.used_things.append((dest, thing))
        slots = with_caps(
            {"dest": dest, "hotel": hotel, "hdetail": rng.choice(HOTEL_DETAILS)}
            | {"thing": thing, "tverdict": tverdict, "who": companion(conv)}
        )
        booked = Exchange(conv.say(TRIP_BOOKED, slots), conv.reply(TRIP_BOOKED_REPLIES, slots))
        back = Exchange(
            conv.say(TRIP_BACK, slots),
            conv.reply(TRIP_BACK_REPLIES, slots),
            category="holiday",
        )
        first = conv.place(booked, hi=conv.n * 2 // 3)
        conv.place(back, lo=first + 1, hi=first + 4)
        conv.candidate(
            Question(
                "exact",
                rng.choice(
                    [
                        f"Where did I book to stay in {dest}?",
                        f"Which place did I reserve for the {dest} trip?",
                    ]
                ),
                cap(hotel),
                [(booked, "user")],
                family="trips",
            )
        )
        conv.candidate(
            Question(
                "exact",
                rng.choice(
                    [
                        f"What did I think of {thing} in {dest}?",
                        f"How was {thing} on my {dest} trip?",
                    ]
                ),
                cap(tverdict),
                [(back, "user")],
                family="trips",
            )
        )
        conv.period_candidate(
            "holiday", back, "Where did I go on holiday in {period}?", dest, "trips"
        )


def friends(conv: Conversation, count: int) -> None:
    rng = conv.rng
    facts = list(range(len(FRIEND_FACTS)))
    rng.shuffle(facts)
    for position, (name, sub, obj, pos) in enumerate(conv.persona.friends[:count]):
        for fact in (facts[(2 * position) % len(facts)], facts[(2 * position + 1) % len(facts)]):
            statements, questions, answer = FRIEND_FACTS[fact]
            slots = {"f": name, "sub": sub, "obj": obj, "pos": pos, "Sub": cap(sub)}
            dest, things = rng.choice(DESTINATIONS)
            thing = rng.choice([t for t in things if (dest, t) not in conv.used_things] or things)
            conv.used_things.append((dest, thing))
            animal, petname = rng.choice(ANIMALS)
            job, employer = rng.choice(FRIEND_JOBS)
            book = conv.new_book() if "{book}" in statements[0] else ""
            slots |= {
                "place": dest,
                "thing": thing,
                "opinion": rng.choice(FRIEND_PLACE_OPINIONS).replace("she", sub),
                "job": job,
                "company": employer,
                "allergen": rng.choice(ALLERGENS),
                "event": rng.choice(EVENTS),
                "town": rng.choice(TOWNS),
                "book": book,
                "baby": rng.choice(BABIES),
                "animal": animal,
                "petname": petname,
                "bandname": rng.choice(FRIEND_BANDS),
            }
            slots = with_caps(slots)
            exchange = Exchange(conv.say(statements, slots), conv.reply(FRIEND_REPLIES, slots))
            conv.place(exchange)
            which = rng.randrange(len(questions))
            answer_text = answer[which] if isinstance(answer, list) else answer
            conv.candidate(
                Question(
                    "exact",
                    questions[which].format(**slots),
                    answer_text.format(**slots),
                    [(exchange, "user")],
                    family="friends",
                )
            )


def work(conv: Conversation, count: int) -> None:
    rng, p = conv.rng, conv.persona
    for proj in rng.sample(PROJECTS, count):
        for fact in rng.sample(range(len(WORK_FACTS)), 2):
            statements, questions, answer = WORK_FACTS[fact]
            part, part2 = rng.sample(WORK_PARTS, 2)
            slots = with_caps(
                {
                    "proj": proj,
                    "col": rng.choice(p.colleagues),
                    "reason": rng.choice(SLIP_REASONS),
                    "part": part,
                    "part2": part2,
                    "ask": rng.choice(CLIENT_ASKS),
                    "cur": p.currency,
                    "amount": rng.choice(BUDGETS),
                    "approach": rng.choice(APPROACHES),
                }
            )
            exchange = Exchange(conv.say(statements, slots), conv.reply(WORK_REPLIES, slots))
            conv.place(exchange)
            conv.candidate(
                Question(
                    "exact",
                    rng.choice(questions).format(**slots),
                    answer.format(**slots),
                    [(exchange, "user")],
                    family="work",
                )
            )


def recommendation(conv: Conversation) -> None:
    rng = conv.rng
    index = rng.randrange(len(RECOMMENDATIONS))
    asks, answers, questions, answer = RECOMMENDATIONS[index]
    slots = pick_slots(conv, {k: list(v) for k, v in REC_SLOTS[index].items()})
    values = REC_VALUES[index]
    slots["x"] = conv.new_book(values) if index == 0 else rng.choice(values)
    exchange = Exchange(
        cap(rng.choice(asks).format(**slots)), cap(rng.choice(answers).format(**slots))
    )
    thanks = Exchange(
        rng.choice(["Perfect, thanks!", "Ooh, good shout.", "I'll try that.", "Great, thank you."]),
        rng.choice(["Enjoy!", "Let me know what you think.", "Any time."]),
    )
    conv.place([exchange, thanks])
    conv.candidate(
        Question(
            "exact",
            rng.choice(questions).format(**slots),
            answer.format(**slots),
            [(exchange, "assistant")],
            family="recommendation",
        )
    )


def dated_events(conv: Conversation, category: str, count: int) -> None:
    """Events of one category in different months: exact and period candidates."""
    rng, p = conv.rng, conv.persona
    statements, replies, questions, answer, period_question = CATEGORY_EVENTS[category]
    books = [(title, author) for title, author in BOOKS if title not in conv.used_books]
    books = rng.sample(books, count)
    conv.used_books.extend(title for title, _ in books)
    bands = rng.sample(BANDS, count)
    films = rng.sample(FILMS, count)
    furniture = rng.sample(FURNITURE, count)
    trails = rng.sample(TRAILS, count)
    for i in range(count):
        item, details = furniture[i]
        slots = with_caps(
            {
                "book": books[i][0],
                "author": books[i][1],
                "bopinion": rng.choice(BOOK_OPINIONS),
                "band": bands[i],
                "venue": rng.choice(VENUES),
                "cdetail": rng.choice(CONCERT_DETAILS),
                "film": films[i],
                "fopinion": rng.choice(FILM_OPINIONS),
                "who": rng.choice([f[0] for f in p.friends] + [p.sister, p.brother]),
                "item": item,
                "item_a": a_an(item),
                "fdetail": rng.choice(details),
                "trail": trails[i],
                "hdetail": rng.choice(HIKE_DETAILS),
            }
        )
        exchange = Exchange(
            conv.say(statements, slots), conv.reply(replies, slots), category=category
        )
        conv.place(exchange)
        if questions:
            conv.candidate(
                Question(
                    "exact",
                    rng.choice(questions).format(**slots),
                    answer.format(**slots),
                    [(exchange, "user")],
                    family=category,
                )
            )
        value = {
            "book": slots["book"],
            "concert": slots["band"],
            "film": slots["film"],
            "furniture": a_an(item),
            "hike": slots["trail_cap"],
        }[category]
        conv.period_candidate(category, exchange, period_question, value, category)


def firsts(conv: Conversation, count: int) -> None:
    rng = conv.rng
    pool = [f for f in FIRSTS if allowed(conv, f[0])]
    for topic, statements, questions, later in rng.sample(pool, count):
        conv.topics.append(topic)
        exchange = Exchange(conv.say(statements), conv.reply(FIRST_REPLIES))
        index = conv.place(exchange, hi=conv.n - 3)
        for text in rng.sample(later, rng.randint(1, 2)):
            conv.place(Exchange(cap(text), rng.choice(LATER_REPLIES)), lo=index + 1)
        assert exchange.day is not None
        conv.candidate(
            Question(
                "temporal",
                rng.choice(questions),
                f"On {long_date(exchange.day)}",
                [(exchange, "user")],
                flavour="when",
                family=topic,
            )
        )


def paraphrases(conv: Conversation, count: int) -> None:
    rng, p = conv.rng, conv.persona
    for topic, statements, questions, answer, pools in rng.sample(PARAPHRASES, len(PARAPHRASES)):
        if count == 0:
            break
        if not allowed(conv, topic):
            continue
        count -= 1
        conv.topics.append(topic)
        friend = rng.choice(p.friends)
        slots = pick_slots(conv, pools) | {
            "sister": p.sister,
            "friend": friend[0],
            "pos": friend[3],
            "cur": p.currency,
            "petname": p.pet[1],
        }
        question = rng.choice(questions)
        for _attempt in range(50):
            text = conv.say(statements, slots)
            if not _shared_stems(question, text):
                break
        else:
            raise RuntimeError(f"paraphrase {topic!r} shares {_shared_stems(question, text)}")
        exchange = Exchange(text, conv.reply(PARAPHRASE_REPLIES))
        conv.place(exchange)
        conv.candidate(
            Question(
                "paraphrase",
                question,
                answer.format(**slots),
                [(exchange, "user")],
                family=topic,
            )
        )


def updates(conv: Conversation, count: int) -> None:
    rng, p = conv.rng, conv.persona
    for topic in rng.sample(sorted(UPDATES), len(UPDATES)):
        if count == 0:
            break
        if not allowed(conv, topic):
            continue
        count -= 1
        conv.topics.append(topic)
        firsts_, changes, questions = UPDATES[topic]
        three = topic in ("phone", "diet", "gym", "mileage", "commute") or (
            topic == "city" and rng.random() < 0.5
        )
        values: list[dict[str, str]]
        if topic == "city":
            values = [{"v": p.city}] + [{"v": c} for c in rng.sample(MOVE_CITIES, 2)]
        elif topic == "job":
            roles = rng.sample(JOBS, 2)
            companies = rng.sample([c for c in COMPANIES if c != p.company], 1)
            values = [{"v": p.company, "role": p.job}, {"v": companies[0], "role": roles[0]}]
        elif topic == "phone":
            values = [{"v": v} for v in rng.sample(PHONES, 3)]
        elif topic == "diet":
            values = [{"v": v, "detail": d} for v, d in rng.sample(DIETS, 3)]
        elif topic == "partner":
            values = [{"v": p.partner}] + [
                {"v": v, "where": rng.choice(PARTNER_WHERE)}
                for v in rng.sample([x for x in PARTNERS if x != p.partner], 1)
            ]
        elif topic == "gym":
            values = [{"v": v} for v in rng.sample(GYMS, 3)]
        elif topic == "commute":
            values = [{"v": m, "phrase": ph} for m, ph in rng.sample(COMMUTES, 3)]
        elif topic == "mileage":
            start = rng.choice([15, 20, 25])
            values = [{"v": str(start)}, {"v": str(start + 10)}, {"v": str(start + 20)}]
        elif topic == "laptop":
            values = [{"v": v} for v in rng.sample(LAPTOPS, 2)]
        elif topic == "car":
            values = [{"v": v} for v in rng.sample(CARS, 2)]
        else:  # manager
            values = [{"v": v} for v in rng.sample([c for c in COLLEAGUES if c != p.first], 2)]
        values = values[: 3 if three else 2]
        statements: list[Exchange] = []
        for i, slots in enumerate(values):
            slots = slots | {"old": values[i - 1]["v"] if i else ""}
            lo, hi = conv.band(i, len(values))
            if i == 0:
                lo, hi = 0, max(0, hi - 1)
                mentions = rng.sample(firsts_, 2 if rng.random() < 0.4 else 1)
            else:
                mentions = [rng.choice(changes)]
            if i and topic == "partner":
                breakup = Exchange(
                    conv.say(BREAKUPS, slots, decorate=0), "I'm sorry. Be kind to yourself."
                )
                lo = max(lo, statements[-1].session + 1)
                lo = conv.place(breakup, lo=lo, hi=(lo + hi) // 2) + 1
                statements.append(breakup)
            for template in mentions:
                exchange = Exchange(
                    conv.say([template], slots), conv.reply(UPDATE_REPLIES, generic=0.5)
                )
                after = statements[-1].session + 1 if statements else lo
                conv.place(exchange, lo=max(lo, after), hi=max(hi, after))
                statements.append(exchange)
        latest, last = statements[-1], values[-1]
        answer = last["v"] if topic != "job" else f"{last['role']} at {last['v']}"
        if topic == "mileage":
            answer = f"{last['v']} km a week"
        conv.candidate(
            Question(
                "update",
                rng.choice(questions),
                cap(answer),
                [(latest, "user")],
                older=statements[:-1],
                family=topic,
            )
        )


def preferences(conv: Conversation, count: int) -> None:
    rng = conv.rng
    lo, hi = conv.band(0, 3)
    for topic, values, statements, questions in rng.sample(PREFERENCES, count):
        value = rng.choice(values)
        exchange = Exchange(
            conv.say(statements, {"v": value}), conv.reply(PREFERENCE_REPLIES, generic=0.5)
        )
        conv.place(exchange, lo=lo, hi=hi)
        conv.candidate(
            Question(
                "preference", rng.choice(questions), cap(value), [(exchange, "user")], family=topic
            )
        )


def multi(conv: Conversation, count: int) -> None:
    rng, p = conv.rng, conv.persona
    pool = [family for family in MULTI_QUESTIONS if allowed(conv, family)]
    for family in rng.sample(pool, count):
        conv.topics.append(family)
        parts = rng.randint(2, 4) if family == "work trips" else rng.randint(2, 3)
        slots_list: list[dict[str, str]] = []
        friend = rng.choice(p.friends)[0]
        if family == "gifts":
            slots_list = [{"gift": g, "sister": p.sister} for g in rng.sample(GIFTS, parts)]
            answer = listing([s["gift"] for s in slots_list])
        elif family == "work trips":
            slots_list = [{"city": c} for c in rng.sample(WORK_CITIES, parts)]
            answer = listing([s["city"] for s in slots_list])
        elif family == "races":
            slots_list = [{"race": r, "time": rng.choice(t)} for r, t in rng.sample(RACES, parts)]
            answer = listing([f"{s['race']} ({s['time']})" for s in slots_list])
        elif family == "bike":
            prices = [rng.choice([450, 620, 780, 950]), rng.choice([85, 110, 140]), 60]
            slots_list = [
                {"bike": rng.choice(BIKES), "price": str(prices[i]), "cur": p.currency}
                for i in range(parts)
            ]
            answer = f"{p.currency}{sum(prices[:parts])}"
        elif family == "weekends":
            slots_list = [{"place": x, "f": friend} for x in rng.sample(WEEKEND_PLACES, parts)]
            answer = listing([s["place"] for s in slots_list])
        elif family == "dentist":
            slots_list = [{"reason": r} for r in rng.sample(DENTIST_REASONS, parts)]
            answer = f"{parts} times: " + listing([s["reason"] for s in slots_list])
        elif family == "book club":
            slots_list = [{"book": conv.new_book(BOOK_CLUB_PICKS)} for _ in range(parts)]
            answer = listing([s["book"] for s in slots_list])
        elif family == "plants":
            slots_list = [{"plant_a": a_an(x)} for x in rng.sample(PLANTS, parts)]
            answer = listing([s["plant_a"] for s in slots_list])
        else:  # rooms
            pairs = rng.sample(ROOMS_COLOURS, parts)
            slots_list = [{"room": r, "colour": c} for r, c in pairs]
            answer = listing([f"the {s['room']} ({s['colour']})" for s in slots_list])
        templates = MULTI_STATEMENTS[family]
        category = {"weekends": "holiday", "book club": "book"}.get(family, "")
        exchanges: list[Exchange] = []
        used: list[int] = []
        wordings = templates[:parts] if family == "bike" else rng.sample(templates, len(templates))
        for i, slots in enumerate(slots_list):
            slots = with_caps(slots)
            statement = wordings[i % len(wordings)]
            exchange = Exchange(
                conv.say([statement], slots), conv.reply(MULTI_REPLIES), category=category
            )
            lo, hi = conv.band(i, parts)
            used.append(conv.place(exchange, lo=lo, hi=hi, avoid=used))
            exchanges.append(exchange)
            if category == "holiday":
                conv.period_candidate(
                    "holiday",
                    exchange,
                    "Where did I go on holiday in {period}?",
                    slots["place"],
                    family,
                )
        if family == "gifts":  # gifts for other people, as hard negatives
            for who in rng.sample([p.brother, "Mum", "Dad", p.friends[0][0]], 2):
                conv.place(
                    Exchange(
                        conv.say(
                            MULTI_STATEMENTS["other gifts"], {"who": who, "gift": rng.choice(GIFTS)}
                        ),
                        conv.reply(MULTI_REPLIES),
                    )
                )
        question = rng.choice(MULTI_QUESTIONS[family]).format(sister=p.sister, f=friend)
        conv.candidate(
            Question(
                "multi_session",
                question,
                cap(answer),
                [(e, "user") for e in exchanges],
                family=family,
            )
        )


# Facts that would make each other's questions ambiguous or the story odd.
CONFLICTS = [
    ("races", "half marathon"),
    ("language", "language course"),
    ("glasses", "eyes"),
    ("car", "driving"),
    ("commute", "driving"),
    ("dentist", "braces"),
    ("job", "manager"),
    ("job", "interns"),
]


def allowed(conv: Conversation, topic: str) -> bool:
    if topic in conv.topics:
        return False
    return not any(
        (a == topic and b in conv.topics) or (b == topic and a in conv.topics) for a, b in CONFLICTS
    )


# --- putting a conversation together ----------------------------------------------------


def build(conv: Conversation, number: int) -> None:
    rng = conv.rng
    big = conv.n >= 20
    # The most constrained placements first: early preferences, ordered updates, spread parts.
    recommendation(conv)
    preferences(conv, QUOTA["preference"])
    updates(conv, QUOTA["update"])
    multi(conv, 4 if number % 2 else 3)
    trips(conv, 4 if big else 3)
    firsts(conv, 3)
    restaurants(conv, 4 if big else 3)
    for category in rng.sample(sorted(CATEGORY_EVENTS), 4 if big else 3):
        dated_events(conv, category, 3)
    paraphrases(conv, QUOTA["paraphrase"])
    friends(conv, 4 if conv.n >= 18 else 3)
    work(conv, 3 if big else 2)


def round_robin(rng: random.Random, questions: list[Question], count: int) -> list[Question]:
    """`count` questions spread over as many families as possible."""
    families: dict[str, list[Question]] = {}
    for question in questions:
        families.setdefault(question.family, []).append(question)
    order = sorted(families)
    rng.shuffle(order)
    for name in order:
        rng.shuffle(families[name])
    chosen: list[Question] = []
    while len(chosen) < count and any(families[name] for name in order):
        for name in order:
            if families[name] and len(chosen) < count:
                chosen.append(families[name].pop())
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} of {count} questions")
    return chosen


def period_label(conv: Conversation, candidate: PeriodCandidate) -> tuple[str, date, date] | None:
    """A month or season naming only this event of its category, or None."""
    day = candidate.exchange.day
    assert day is not None
    others = [e.day for e in conv.category_exchanges[candidate.category] if e.day is not None]
    month_start = date(day.year, day.month, 1)
    month_end = date(day.year + day.month // 12, day.month % 12 + 1, 1) - timedelta(days=1)
    options: list[tuple[str, date, date]] = []
    if sum(month_start <= d <= month_end for d in others) == 1:
        options.append((f"{MONTHS[day.month - 1]} {day.year}", month_start, month_end))
    for season, (first, last) in SEASONS.items():
        if first <= day.month <= last:
            start = date(day.year, first, 1)
            end = date(day.year, last + 1, 1) - timedelta(days=1)
            if sum(start <= d <= end for d in others) == 1:
                label = conv.rng.choice([f"the {season} of {day.year}", f"{season} {day.year}"])
                options.append((label, start, end))
    return conv.rng.choice(options) if options else None


def select(conv: Conversation, number: int) -> list[Question]:
    rng = conv.rng
    chosen = round_robin(rng, conv.candidates["exact"], QUOTA["exact"])
    for kind in ("paraphrase", "update", "preference", "multi_session"):
        chosen += conv.candidates[kind]
    periods: list[Question] = []
    candidates = list(conv.period_candidates)
    rng.shuffle(candidates)
    wanted = QUOTA["temporal"] - (2 if number % 2 else 3)
    for candidate in candidates:
        if len(periods) == wanted or candidate.family in [q.family for q in periods]:
            continue
        label = period_label(conv, candidate)
        if label is None:
            continue
        text, start, end = label
        periods.append(
            Question(
                "temporal",
                candidate.question.format(period=text),
                cap(candidate.answer),
                [(candidate.exchange, "user")],
                flavour="period",
                period=(start, end),
                family=candidate.family,
            )
        )
    whens = conv.candidates["temporal"]
    rng.shuffle(whens)
    chosen += periods + whens[: QUOTA["temporal"] - len(periods)]
    return chosen


def layout(conv: Conversation) -> list[dict[str, object]]:
    """Sessions as JSON-ready dicts; sets every exchange's turn ids."""
    rng, p = conv.rng, conv.persona
    filler_slots = {
        "pet_name": p.pet[1],
        "colleague": p.colleagues[1],
        "sister": p.sister,
        "brother": p.brother,
        "friend": p.friends[-1][0],
    }
    decks: dict[str, list[tuple[str, str]]] = {}

    def draw(name: str, pool: list[tuple[str, str]], moment: datetime) -> Exchange:
        """The next filler of the shuffled pool that suits the time of day and the weekday."""
        for refill in (False, True):
            if refill or not decks.get(name):
                decks[name] = list(pool)
                rng.shuffle(decks[name])
            deck = decks[name]
            for position in range(len(deck) - 1, -1, -1):
                if suits(deck[position][0] + " " + deck[position][1], moment):
                    user, assistant = deck.pop(position)
                    return Exchange(user.format(**filler_slots), assistant.format(**filler_slots))
        raise RuntimeError(f"no {name} suits {moment}")

    sessions: list[dict[str, object]] = []
    previous_end = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    for index, day in enumerate(conv.days):
        # Facts told "tonight" or "this afternoon" are told late enough in the day.
        said = " ".join(e.user.lower() for block in conv.placed[index] for e in block)
        earliest = 17 if "tonight" in said or "this evening" in said else 7
        earliest = max(earliest, 15 if "this afternoon" in said else 7)
        at = datetime(
            day.year, day.month, day.day, rng.randint(earliest, 21), rng.randint(0, 59), tzinfo=UTC
        )
        at = max(at + timedelta(seconds=rng.randint(0, 59)), previous_end + timedelta(minutes=5))
        blocks = list(conv.placed[index])
        rng.shuffle(blocks)
        facts = sum(len(b) for b in blocks)
        greet = rng.random() < 0.85
        close = rng.random() < 0.75
        fill = max(0, min(8 - facts - greet - close, rng.choice([0, 1, 1, 2, 2, 3])))
        fill = max(fill, 3 - facts - greet - close)
        for _ in range(fill):
            pool = rng.choice(["small talk", "small talk", "help", "help", "scheduling"])
            filler = draw(
                pool,
                {"small talk": SMALL_TALK, "help": HELP_REQUESTS, "scheduling": SCHEDULING}[pool],
                at,
            )
            blocks.insert(rng.randint(0, len(blocks)), [filler])
        if greet:
            blocks.insert(0, [draw("greetings", GREETINGS, at)])
        if close:
            blocks.append([draw("closings", CLOSINGS, at)])
        session_id = f"{conv.cid}-s{index + 1:02d}"
        turns: list[dict[str, str]] = []
        for exchange in (e for block in blocks for e in block):
            for role, content in (("user", exchange.user), ("assistant", exchange.assistant)):
                turn_id = f"{session_id}-t{len(turns) + 1:02d}"
                at += timedelta(
                    seconds=rng.randint(25, 150) if role == "user" else rng.randint(4, 40)
                )
                turns.append({"id": turn_id, "role": role, "at": iso(at), "content": content})
                if role == "user":
                    exchange.user_id = turn_id
                else:
                    exchange.assistant_id = turn_id
        previous_end = at
        sessions.append({"id": session_id, "turns": turns})
    return sessions


TIME_WORDS = [
    # (words in a filler, hours it suits, weekdays it suits)
    (("morning", "coffee in hand"), range(6, 12), range(7)),
    (("lunch",), range(11, 15), range(7)),
    (
        ("evening", "night", "bed", "sleep", "dinner", "long day", "candlelight"),
        range(17, 24),
        range(7),
    ),
    (("monday",), range(24), (0,)),
    (("friday",), range(24), (4,)),
    (("sunday", "weekend been"), range(24), (5, 6)),
]


def suits(text: str, moment: datetime) -> bool:
    lowered = text.lower()
    return all(
        moment.hour in hours and moment.weekday() in weekdays
        for words, hours, weekdays in TIME_WORDS
        if any(word in lowered for word in words)
    )


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


FORBIDDEN_IN_TURNS = re.compile(
    r"\b(" + "|".join(MONTHS) + r"|2024|2025)\b|\b(spring|summer|autumn|winter)\b", re.IGNORECASE
)


def check(conv: Conversation, sessions: list[dict[str, object]], questions: list[Question]) -> None:
    """The generator's own guarantees; tests/bench/test_evalset.py checks the file again."""
    for session in sessions:
        for turn in session["turns"]:  # type: ignore[attr-defined]
            match = FORBIDDEN_IN_TURNS.search(turn["content"])
            # "May" only as a month: the modal verb would be lower-case mid-sentence.
            if match and not (match.group(0).lower() == "may" and match.group(0) != "May"):
                raise RuntimeError(f"{turn['id']} names a time: {turn['content']!r}")
    for question in questions:
        for exchange, _role in question.evidence:
            assert exchange.user_id, question.question
        if question.kind == "paraphrase":
            text = question.evidence[0][0].user
            if _shared_stems(question.question, text):
                raise RuntimeError(f"{question.question!r} shares words with {text!r}")
        if question.kind == "multi_session":
            sessions_used = [e.session for e, _ in question.evidence]
            assert len(set(sessions_used)) == len(sessions_used), question.question
        for older in question.older:
            assert older.session < question.evidence[0][0].session, question.question


def generate(seed: int = SEED) -> tuple[dict[str, object], str]:
    conversations: list[dict[str, object]] = []
    questions: list[dict[str, object]] = []
    for number in range(1, CONVERSATIONS + 1):
        conv = Conversation(number, seed)
        build(conv, number)
        chosen = select(conv, number)
        sessions = layout(conv)
        check(conv, sessions, chosen)
        last_turn = sessions[-1]["turns"][-1]  # type: ignore[index]
        last = datetime.strptime(last_turn["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        asked = datetime.combine(
            last.date() + timedelta(days=conv.rng.randint(1, 4)), datetime.min.time(), UTC
        ) + timedelta(hours=conv.rng.randint(8, 20))
        conversations.append(
            {
                "id": conv.cid,
                "split": conv.split,
                "user": f"{conv.persona.first} {conv.persona.last}",
                "sessions": sessions,
            }
        )
        for offset, question in enumerate(chosen):
            entry: dict[str, object] = {
                "id": f"q{len(questions) + 1:04d}",
                "conversation": conv.cid,
                "kind": question.kind,
                "question": tidy(question.question),
                "answer": tidy(question.answer),
                "evidence": [
                    e.user_id if role == "user" else e.assistant_id for e, role in question.evidence
                ],
                "asked_at": iso(asked + timedelta(minutes=offset)),
            }
            if question.older:
                entry["older"] = [e.user_id for e in question.older]
            if question.flavour:
                entry["flavour"] = question.flavour
            if question.period:
                entry["period"] = {
                    "start": question.period[0].isoformat(),
                    "end": question.period[1].isoformat(),
                }
            questions.append(entry)
    data: dict[str, object] = {
        "version": VERSION,
        "seed": seed,
        "description": DESCRIPTION,
        "conversations": conversations,
        "questions": questions,
    }
    return data, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


DESCRIPTION = (
    "Synthetic multi-session user/assistant conversations with questions whose answers are in"
    " known turns (evidence). Generated by bench/evalset/generate.py; do not edit by hand."
    " Kinds: exact (reuses the evidence's names and nouns), paraphrase (shares no english"
    " lexeme with its evidence), temporal (flavour 'when': the answer is the evidence's date;"
    " flavour 'period': the question names a month or season found only in the evidence's"
    " timestamp), update (evidence is the latest statement of a changed fact, 'older' the"
    " earlier ones), preference (stated once early, asked months later), multi_session"
    " (evidence in several sessions). Split 'tune' may be used to tune retrieval; never look"
    " at 'heldout' while tuning."
)


def summary(data: dict[str, object]) -> str:
    conversations: list[dict[str, object]] = data["conversations"]  # type: ignore[assignment]
    questions: list[dict[str, object]] = data["questions"]  # type: ignore[assignment]
    split_of = {c["id"]: c["split"] for c in conversations}
    sessions = [s for c in conversations for s in c["sessions"]]  # type: ignore[attr-defined]
    turns = sum(len(s["turns"]) for s in sessions)
    lines = [
        f"conversations {len(conversations)} "
        f"(tune {sum(v == 'tune' for v in split_of.values())}, "
        f"heldout {sum(v == 'heldout' for v in split_of.values())}), "
        f"sessions {len(sessions)}, turns {turns}, questions {len(questions)}",
        f"{'kind':<14}{'tune':>6}{'heldout':>9}{'all':>6}",
    ]
    counts = Counter((q["kind"], split_of[q["conversation"]]) for q in questions)
    kinds = ["exact", "paraphrase", "temporal", "update", "preference", "multi_session"]
    for kind in kinds:
        tune, held = counts[(kind, "tune")], counts[(kind, "heldout")]
        lines.append(f"{kind:<14}{tune:>6}{held:>9}{tune + held:>6}")
    tune = sum(counts[(k, "tune")] for k in kinds)
    held = sum(counts[(k, "heldout")] for k in kinds)
    lines.append(f"{'all':<14}{tune:>6}{held:>9}{tune + held:>6}")
    flavours = Counter(q.get("flavour") for q in questions if q["kind"] == "temporal")
    lines.append(f"temporal: when {flavours['when']}, period {flavours['period']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    args = parser.parse_args(argv)
    data, text = generate(args.seed)
    args.output.write_text(text, encoding="utf-8")
    if not args.quiet:
        print(f"wrote {args.output}")
        print(summary(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
