"""Deterministic, realistic-looking memory sentences and queries for the benchmarks.

Everything is drawn from a seeded `random.Random`, so a given seed always yields the same
corpus: a re-run against a reused data folder can tell exactly which rows already exist.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

MIN_WORDS = 8
MAX_WORDS = 30

NAMES = [
    "Alice",
    "Bruno",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Kavya",
    "Liam",
    "Maya",
    "Nikolai",
    "Olivia",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Amara",
    "Boris",
    "Camille",
    "Diego",
    "Emeka",
    "Freya",
    "Gabriel",
    "Hana",
    "Ivan",
    "Julia",
    "Kenji",
    "Leila",
    "Marco",
    "Nadia",
    "Oscar",
    "Priya",
    "Rafael",
    "Sofia",
    "Tomas",
    "Valentina",
    "William",
    "Yara",
    "Anton",
    "Bea",
]
RELATIVES = [
    "sister",
    "brother",
    "mother",
    "father",
    "cousin",
    "aunt",
    "uncle",
    "grandmother",
    "grandfather",
    "daughter",
    "son",
    "niece",
    "nephew",
    "partner",
    "best friend",
    "neighbour",
    "flatmate",
    "colleague",
    "manager",
    "mentor",
]
CITIES = [
    "Lisbon",
    "Berlin",
    "Toronto",
    "Osaka",
    "Nairobi",
    "Lyon",
    "Austin",
    "Melbourne",
    "Oslo",
    "Seville",
    "Krakow",
    "Dublin",
    "Montreal",
    "Seoul",
    "Bogota",
    "Edinburgh",
    "Porto",
    "Vienna",
    "Bangalore",
    "Cape Town",
    "Helsinki",
    "Denver",
    "Marseille",
    "Taipei",
    "Rotterdam",
    "Boston",
    "Valencia",
    "Zurich",
    "Singapore",
    "Prague",
    "Mexico City",
    "Athens",
    "Copenhagen",
    "Hamburg",
    "Kyoto",
    "Lima",
    "Milan",
    "Bristol",
    "Ghent",
    "Tallinn",
]
JOBS = [
    "nurse",
    "data engineer",
    "architect",
    "primary school teacher",
    "pastry chef",
    "lawyer",
    "product designer",
    "firefighter",
    "veterinarian",
    "accountant",
    "journalist",
    "pharmacist",
    "civil engineer",
    "translator",
    "physiotherapist",
    "pilot",
    "electrician",
    "researcher",
    "sales manager",
    "UX writer",
    "photographer",
    "dentist",
    "mechanic",
    "biologist",
]
PETS = ["dog", "cat", "parrot", "rabbit", "tortoise", "hamster", "ferret", "goldfish", "gecko"]
PET_NAMES = [
    "Biscuit",
    "Luna",
    "Pepper",
    "Milo",
    "Nala",
    "Ziggy",
    "Mochi",
    "Rocket",
    "Olive",
    "Toast",
    "Juniper",
    "Pixel",
    "Waffles",
    "Clover",
    "Bandit",
    "Sushi",
]
ALLERGENS = [
    "peanuts",
    "shellfish",
    "penicillin",
    "cat hair",
    "pollen",
    "gluten",
    "lactose",
    "sesame",
    "bee stings",
    "latex",
    "kiwi",
    "soy",
]
FOODS = [
    "spicy ramen",
    "mushroom risotto",
    "sushi",
    "falafel wraps",
    "dark chocolate",
    "Greek salad",
    "pad thai",
    "sourdough bread",
    "blue cheese",
    "lentil soup",
    "tacos al pastor",
    "pho",
    "cinnamon rolls",
    "grilled sardines",
    "butter chicken",
    "oat porridge",
    "pistachio gelato",
    "kimchi fried rice",
    "margherita pizza",
    "avocado toast",
]
DRINKS = [
    "black coffee",
    "green tea",
    "oat milk lattes",
    "sparkling water",
    "chai",
    "espresso",
    "hot chocolate",
    "kombucha",
    "mint tea",
    "orange juice",
    "flat whites",
    "matcha",
]
TIMES_OF_DAY = ["morning", "early afternoon", "evening", "late night", "weekend mornings"]
CONTEXTS = [
    "working from home",
    "travelling for work",
    "reading",
    "on long calls",
    "writing reports",
    "studying for exams",
    "cooking dinner",
    "it is raining",
    "the team is on a deadline",
]
ACTIVITIES = [
    "running",
    "note taking",
    "photography",
    "hiking",
    "cycling",
    "drawing",
    "journaling",
    "swimming",
    "podcast recording",
    "rock climbing",
    "gardening",
    "baking",
]
ITEMS = [
    "shoes",
    "notebooks",
    "cameras",
    "backpacks",
    "headphones",
    "pens",
    "tablets",
    "jackets",
    "water bottles",
    "gloves",
]
BRANDS = ["Nordic", "Atlas", "Kestrel", "Orchid", "Summit", "Harbor", "Lumen", "Vega", "Ember"]
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
EVENT_VERBS = [
    "attended",
    "organised",
    "missed",
    "gave a talk at",
    "volunteered at",
    "celebrated",
    "cancelled",
    "hosted",
    "travelled to",
]
EVENTS = [
    "a wedding",
    "the quarterly offsite",
    "a book launch",
    "a jazz concert",
    "a hackathon",
    "a charity run",
    "a product demo",
    "a family reunion",
    "a job interview",
    "a pottery class",
    "the annual conference",
    "a dentist appointment",
    "a birthday dinner",
    "a design workshop",
]
COMPANIES = [
    "Acme Logistics",
    "Brightline Health",
    "Cobalt Bank",
    "Driftwood Games",
    "Evergreen Foods",
    "Foxglove Media",
    "Granite Insurance",
    "Helix Robotics",
    "Ironbark Energy",
    "Juniper Retail",
    "Keystone Legal",
    "Lighthouse Travel",
]
TOPICS = [
    "the renewal contract",
    "the Q3 roadmap",
    "pricing for the enterprise plan",
    "the data migration",
    "hiring two engineers",
    "the security audit",
    "the onboarding flow",
    "the marketing budget",
    "the mobile app launch",
    "churn in the starter plan",
    "the API rate limits",
    "the support backlog",
]
SERVICES = [
    "billing-api",
    "auth-service",
    "search-indexer",
    "notification-worker",
    "payments-gateway",
    "report-builder",
    "image-resizer",
    "user-profile-service",
    "webhook-dispatcher",
    "analytics-pipeline",
]
ENVIRONMENTS = ["staging", "production", "the EU cluster", "the canary pool", "the test cluster"]
CAUSES = [
    "a missing database migration",
    "an expired TLS certificate",
    "a memory leak in the worker",
    "a misconfigured feature flag",
    "a race condition in the cache",
    "an exhausted connection pool",
    "a typo in the environment file",
    "a slow DNS resolver",
    "a schema mismatch",
    "disk space running out",
]
FIXES = [
    "rolling back to the previous release",
    "raising the pool size",
    "renewing the certificate",
    "adding a retry with backoff",
    "pinning the dependency version",
    "clearing the stale cache",
    "running the migration by hand",
    "splitting the batch job",
]
COMPONENTS = [
    "login page",
    "checkout flow",
    "CSV export",
    "admin dashboard",
    "search filters",
    "invoice templates",
    "permissions model",
    "retry logic",
    "email digests",
    "audit log",
]
MILESTONES = ["sprint", "release", "board", "design", "security", "quarterly", "launch"]
TEAMS = ["platform", "growth", "data", "mobile", "infrastructure", "design", "support", "finance"]
DECISIONS = [
    "move to weekly releases",
    "drop support for the legacy SDK",
    "adopt PostgreSQL everywhere",
    "freeze new features for two weeks",
    "rewrite the importer in Go",
    "hire a contractor",
    "add end-to-end tests",
    "switch to usage-based pricing",
    "consolidate the dashboards",
]
PROJECTS = ["Atlas", "Bluebird", "Comet", "Daybreak", "Everest", "Falcon", "Galileo", "Horizon"]
TASKS = [
    "rotate the API keys",
    "restore a database backup",
    "onboard a new customer",
    "publish the release notes",
    "reset a user's two-factor setup",
    "renew the domain",
    "export the monthly invoices",
    "rebuild the search index",
    "run the load tests",
    "file an expense report",
]
STEPS = [
    "open the admin console",
    "check the runbook in the wiki",
    "notify the on-call engineer",
    "run the smoke tests",
    "update the status page",
    "tag the release in git",
    "ask finance for approval",
    "wait for the nightly job",
    "verify the checksum",
]
HOBBIES = [
    "learning Portuguese",
    "playing the cello",
    "training for a marathon",
    "building furniture",
    "collecting vinyl records",
    "practising yoga",
    "writing short stories",
    "birdwatching",
]
TAILS = [
    "",
    "",
    "",
    " according to {name}",
    " as mentioned last week",
    " which matters for planning",
    " and this came up again recently",
    " so keep it in mind when suggesting plans",
    " and the user wants to be reminded about it",
    " though this might change next year",
]


@dataclass(frozen=True)
class Sentence:
    text: str
    category: str  # fact, preference, event, work, procedure
    memory_type: str  # the Memory.type it is stored as


def _date(rng: random.Random) -> str:
    month = rng.choice(MONTHS)
    day = rng.randint(1, 28)
    if rng.random() < 0.5:
        return f"{month} {day}"
    return f"{month} {day}, {rng.choice([2024, 2025])}"


_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "name": lambda rng: rng.choice(NAMES),
    "name2": lambda rng: rng.choice(NAMES),
    "relative": lambda rng: rng.choice(RELATIVES),
    "city": lambda rng: rng.choice(CITIES),
    "job": lambda rng: rng.choice(JOBS),
    "pet": lambda rng: rng.choice(PETS),
    "petname": lambda rng: rng.choice(PET_NAMES),
    "age": lambda rng: str(rng.randint(1, 16)),
    "allergen": lambda rng: rng.choice(ALLERGENS),
    "food": lambda rng: rng.choice(FOODS),
    "food2": lambda rng: rng.choice(FOODS),
    "drink": lambda rng: rng.choice(DRINKS),
    "drink2": lambda rng: rng.choice(DRINKS),
    "timeofday": lambda rng: rng.choice(TIMES_OF_DAY),
    "context": lambda rng: rng.choice(CONTEXTS),
    "activity": lambda rng: rng.choice(ACTIVITIES),
    "item": lambda rng: rng.choice(ITEMS),
    "brand": lambda rng: rng.choice(BRANDS),
    "date": _date,
    "time": lambda rng: f"{rng.randint(8, 18)}:{rng.choice(['00', '15', '30', '45'])}",
    "event_verb": lambda rng: rng.choice(EVENT_VERBS),
    "event": lambda rng: rng.choice(EVENTS),
    "company": lambda rng: rng.choice(COMPANIES),
    "topic": lambda rng: rng.choice(TOPICS),
    "service": lambda rng: rng.choice(SERVICES),
    "env": lambda rng: rng.choice(ENVIRONMENTS),
    "cause": lambda rng: rng.choice(CAUSES),
    "fix": lambda rng: rng.choice(FIXES),
    "component": lambda rng: rng.choice(COMPONENTS),
    "milestone": lambda rng: rng.choice(MILESTONES),
    "team": lambda rng: rng.choice(TEAMS),
    "decision": lambda rng: rng.choice(DECISIONS),
    "project": lambda rng: rng.choice(PROJECTS),
    "task": lambda rng: rng.choice(TASKS),
    "step": lambda rng: rng.choice(STEPS),
    "step2": lambda rng: rng.choice(STEPS),
    "hobby": lambda rng: rng.choice(HOBBIES),
    "n": lambda rng: str(rng.randint(2, 40)),
}
_FORMATTER = string.Formatter()


@functools.cache
def _fields(template: str) -> tuple[str, ...]:
    return tuple(field for _, field, _, _ in _FORMATTER.parse(template) if field)


def _fill(rng: random.Random, template: str) -> str:
    # Each slot is drawn independently, in template order, so the result depends on the seed only.
    return template.format(**{field: _SLOTS[field](rng) for field in _fields(template)})


# (category, memory type, template); the tail adds variety in length and wording.
TEMPLATES: list[tuple[str, str, str]] = [
    ("fact", "semantic", "The user's {relative} {name} lives in {city} and works as a {job}."),
    ("fact", "semantic", "{name} is allergic to {allergen} and always carries medication."),
    ("fact", "semantic", "The user has a {pet} called {petname} who is {age} years old."),
    ("fact", "semantic", "{name}'s birthday is on {date} and they like small dinners."),
    ("fact", "semantic", "The user moved to {city} {n} years ago after working as a {job}."),
    ("fact", "semantic", "The user has been {hobby} for {n} months with their {relative}."),
    ("fact", "semantic", "{name} is the user's {relative} and is a {job} in {city}."),
    ("preference", "semantic", "The user prefers {drink} over {drink2} in the {timeofday}."),
    ("preference", "semantic", "When {context}, the user likes {drink} and no notifications."),
    ("preference", "semantic", "{name} dislikes {food} but loves {food2} from a place in {city}."),
    ("preference", "semantic", "For {activity}, the user swears by {brand} {item}."),
    (
        "preference",
        "semantic",
        "The user wants replies short and avoids meetings in the {timeofday}.",
    ),
    ("preference", "semantic", "Favourite meal is {food} with {drink}, ideally on a Friday."),
    ("event", "episodic", "On {date}, the user {event_verb} {event} in {city} with {name}."),
    ("event", "episodic", "Meeting with {name} from {company} on {date} at {time} about {topic}."),
    ("event", "episodic", "The user flew to {city} on {date} to see their {relative} {name}."),
    ("event", "episodic", "On {date} {name} {event_verb} {event} and said it went well."),
    ("event", "episodic", "The user booked a table for {food} in {city} on {date} at {time}."),
    ("event", "episodic", "Call with {company} on {date}: they want to revisit {topic}."),
    ("work", "episodic", "Deploy of {service} to {env} failed on {date} due to {cause}."),
    ("work", "episodic", "Fixed {service} in {env} by {fix} after {cause} on {date}."),
    ("work", "episodic", "TODO: finish the {component} before the {milestone} review with {name}."),
    ("work", "semantic", "The {team} team decided to {decision} for project {project}."),
    ("work", "episodic", "{name} owns the {component} rewrite in project {project} this quarter."),
    ("work", "episodic", "{company} reported a bug in the {component}; {name} is looking at it."),
    ("procedure", "procedural", "To {task}, first {step}, then {step2}."),
    ("procedure", "procedural", "When {service} alerts in {env}, {step} and try {fix}."),
    ("procedure", "procedural", "Before the {milestone} review, {step} and send notes to {name}."),
    ("procedure", "procedural", "The user always wants to {task} on {date}, after they {step}."),
]

# Questions an agent would send to recall: the same vocabulary, a different shape.
QUERY_TEMPLATES: list[str] = [
    "Where does the user's {relative} live and what do they do?",
    "What is {name} allergic to?",
    "What is the name of the user's {pet}?",
    "When is {name}'s birthday?",
    "What does the user like to drink in the {timeofday}?",
    "Which food does {name} dislike?",
    "What gear does the user like for {activity}?",
    "When is the meeting with {company} about {topic}?",
    "Did the user travel to {city} recently?",
    "What happened at {event} in {city}?",
    "Why did the {service} deployment fail in {env}?",
    "How was the {service} outage fixed?",
    "What is left to do on the {component} before the {milestone} review?",
    "What did the {team} team decide for project {project}?",
    "Who is working on the {component}?",
    "How do I {task}?",
    "What should I do when {service} alerts?",
    "Any restaurant plans involving {food}?",
    "Remind me what the user said about {hobby}.",
    "What do we know about {name} and {city}?",
]


def _sentence(rng: random.Random) -> Sentence:
    category, memory_type, template = rng.choice(TEMPLATES)
    tail = _fill(rng, rng.choice(TAILS))
    text = _fill(rng, template)
    if tail:
        text = text.rstrip(".") + tail + "."
    return Sentence(text=text, category=category, memory_type=memory_type)


def _word_count(text: str) -> int:
    return len(text.split())


def generate_sentences(count: int, seed: int, exclude: set[str] | None = None) -> list[Sentence]:
    """`count` distinct sentences of MIN_WORDS..MAX_WORDS words, always the same for a seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    excluded = exclude or set()
    result: list[Sentence] = []
    attempts = 0
    while len(result) < count:
        attempts += 1
        if attempts > count * 50:
            raise RuntimeError(f"cannot make {count} distinct sentences from the templates")
        sentence = _sentence(rng)
        if sentence.text in seen or sentence.text in excluded:
            continue
        if not MIN_WORDS <= _word_count(sentence.text) <= MAX_WORDS:
            continue
        seen.add(sentence.text)
        result.append(sentence)
    return result


def generate_queries(count: int, seed: int) -> list[str]:
    """`count` recall queries, distinct while the templates allow it (a few thousand)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    result: list[str] = []
    misses = 0
    while len(result) < count:
        query = _fill(rng, rng.choice(QUERY_TEMPLATES))
        # After many repeats in a row the distinct queries are used up: accept repeats.
        if query in seen and misses < 1_000:
            misses += 1
            continue
        misses = 0
        seen.add(query)
        result.append(query)
    return result
