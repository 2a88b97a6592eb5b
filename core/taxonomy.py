"""The fixed vocabularies of annotation: topics, moods, entity types, safety ratings and reasons.

This module is the one place these lists live; the grammar, the classifiers, the database
checks, the CLI and the GUI all read them from here. Each topic and mood carries several short
descriptions: the embedding classifier scores an item against every description with the same
MiniLM model that indexes the chunks, so the descriptions are worded the way transcripts and
articles about the subject talk (names of things, typical words), not as dictionary
definitions.
"""

from __future__ import annotations

from typing import Final

TOPIC_DESCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "News & Politics": (
        "politics: the government, ministers, parliament, elections and political parties",
        "the prime minister, the opposition leader and MPs debate a new law and policy",
        "an election campaign: voters, polls, candidates, Labour, Conservatives, manifesto",
        "government policy on immigration, asylum, identity cards, terrorism laws and human rights",
        "diplomacy and international affairs between countries, presidents and foreign ministers",
        "breaking news report about current events, a government announcement and a spokesman",
        "world news: a war, a conflict, peace talks, the United Nations and foreign governments",
        "a president, congress and the senate vote on a bill; laws, treaties and the constitution",
        "protesters march against the government; a referendum, a coup or a disputed vote",
    ),
    "Business & Finance": (
        "business news: company profits, sales, shares and the stock market",
        "the economy, interest rates, inflation, growth, the central bank and the dollar",
        "a firm's chief executive announces a takeover, merger or job cuts to investors",
        "oil prices, trade deficit, exports, economic figures and financial markets",
        "personal finance, money, banking, pensions, debt, investment and taxes",
        "a corporation's quarterly earnings beat forecasts and its stock rose on Wall Street",
        "industry and trade: a company buys a rival, its customers, revenue and market share",
    ),
    "Technology": (
        "technology: computers, software, the internet and gadgets",
        "mobile phones, broadband, video games consoles, digital music players and new devices",
        "computer viruses, hackers, spam, online security and web sites",
        "tech companies like Microsoft, Apple, Google and Sony launch new products",
        "programming, artificial intelligence, data, electronics and engineering",
        "how a machine works: engines, electricity, inventions, patents and engineering",
        "computer science: algorithms, networks, data transmission and the theory of computing",
        "the web, search engines, smartphones, chips and software updates",
    ),
    "Science": (
        "science: researchers publish a study about physics, chemistry or biology",
        "space exploration, astronomy, planets, NASA and rockets",
        "the environment, climate change, animals, evolution and the natural world",
        "scientists run experiments in a laboratory and test a hypothesis",
        "mathematics: numbers, equations, proofs and theorems",
        "physics and chemistry: atoms, elements, molecules, forces, energy and motion",
        "biology: cells, plants, species, genes and ecosystems",
        "the earth sciences: rocks, volcanoes, earthquakes, oceans and the climate",
    ),
    "Health & Medicine": (
        "health and medicine: doctors, patients, hospitals and disease",
        "a new drug treatment, vaccines, cancer research and clinical trials",
        "fitness, diet, nutrition, mental health and wellbeing",
        "the health service, nurses, surgery and medical care",
        "infections, viruses, epidemics, the immune system and medicines",
    ),
    "Education": (
        "education: schools, teachers, pupils, exams and universities",
        "a lecture or lesson explaining how something works to students",
        "learning a language, studying, homework, degrees and tuition fees",
        "a university: its students, professors, research, campus and alumni",
        "the school system: private and state schools, qualified teachers and the curriculum",
    ),
    "History": (
        "history: past centuries, ancient civilisations, kings, empires and wars of the past",
        "the Second World War, historical events, historians and archives",
        "the story of how an old tradition, building or country came to be",
        "an empire or a dynasty of the past: emperors, conquests, rebellions and its decline",
        "a war fought long ago: the battles, the treaty and what followed",
        "the middle ages, the renaissance and the nineteenth century: how people lived then",
    ),
    "Arts & Culture": (
        "arts and culture: painting, sculpture, museums, galleries and exhibitions",
        "literature, novels, poetry, authors and book prizes",
        "theatre, opera, ballet, classical performance and architecture",
        "a museum or gallery collection: design, craft, sculpture, photography and fashion",
    ),
    "Entertainment": (
        "entertainment: films, movies, cinema, actors and the box office",
        "television shows, TV series, soap operas, reality TV and broadcasters",
        "celebrities, film stars, showbiz awards like the Oscars, Baftas and Golden Globes",
        "a film director's new movie premieres; the actress won best actress",
        "pop stars, bands and the music industry: album sales, charts, Grammys and Brit awards",
        "a television network, its channels, programmes, presenters and ratings",
    ),
    "Comedy": (
        "comedy: jokes, a stand-up comedian and funny stories that make the audience laugh",
        "a sitcom or comedy sketch full of humour, banter and punchlines",
    ),
    "Music": (
        "music: songs, melodies, singing and musical instruments",
        "a musician plays guitar, piano and drums in a live concert",
        "composing music, rhythm, harmony, lyrics and recording in the studio",
    ),
    "Sports": (
        "sport: football, rugby, cricket and tennis matches",
        "the team won the match; the coach praised the players after the game",
        "athletes compete in the Olympics, championships and tournaments",
        "a player was injured and will miss the league cup final; the striker scored a goal",
        "American sports: baseball, basketball, American football, ice hockey, the NFL and NBA",
        "golf, motor racing, cycling, boxing, athletics, swimming and horse racing",
        "a game recap: the final score, the pitcher, the home run, the touchdown, the playoffs",
        "the coach and players prepare for the championship game; fans, tickets and the stadium",
    ),
    "True Crime": (
        "true crime: a murder investigation, detectives, the suspect and the victim",
        "a criminal trial: the jury, the court, the prosecutor and the verdict",
        "a kidnapping, robbery or fraud case solved by the police",
    ),
    "Society": (
        "society: social issues, communities, families and everyday life",
        "poverty, inequality, housing, gender, race and social justice",
        "people's personal stories, relationships and how society is changing",
        "wealth and income inequality, welfare, civil rights and protest movements",
    ),
    "Religion & Spirituality": (
        "religion: God, faith, church, prayer and the Bible",
        "spirituality, meditation, beliefs, the soul and religious traditions",
        "Islam, Christianity, Judaism, Hinduism, Buddhism and places of worship",
        "a church and its clergy, its doctrine, its members and its history of reform",
        "a religious movement, its preachers and followers, and its teaching about how to live",
    ),
    "Kids & Family": (
        "children and family: parenting, babies and raising kids",
        "a story for children with cartoons, games and songs for kids",
    ),
    "Leisure & Hobbies": (
        "hobbies and leisure: cooking recipes, gardening and crafts",
        "travel, holidays, food, restaurants and the outdoors",
        "home improvement, fashion, cars, pets and collecting",
        "a cooking show: the chef makes a recipe step by step with eggs, flour, butter and sugar",
    ),
    "Work & Careers": (
        "work and careers: jobs, job interviews and the workplace",
        "a team meeting at work: the project manager, colleagues, deadlines and the budget",
        "a product design meeting about requirements, the remote control and the user interface",
        "career advice, employees, managers, office life and professional skills",
    ),
}

TOPICS: Final[tuple[str, ...]] = tuple(TOPIC_DESCRIPTIONS)

MOOD_DESCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "upbeat": (
        "cheerful, happy and energetic: great news, excited and celebrating",
        "a win, a party or a festival: cheering, smiling and having a great time",
    ),
    "calm": (
        "calm, relaxed and gentle: a quiet, peaceful and slow conversation",
        "a soothing, unhurried walk through nature, soft music or a meditation",
    ),
    "serious": (
        "serious and grave: a sober discussion of a hard problem and its consequences",
        "officials warn of risks and responsibilities in a formal statement about a hard decision",
        "a solemn address about duty, sacrifice and the burdens a nation must bear",
    ),
    "tense": (
        "tense and urgent: conflict, threats, pressure, a crisis and angry disagreement",
        "a dramatic standoff, a race against time, fear and danger",
        "fighting, attacks, a violent crime or a police chase as it happens",
    ),
    "eerie": (
        "eerie and creepy: a strange, dark, haunting and unsettling mystery",
        "a ghost story at night: shadows, whispers, an abandoned house and something wrong",
    ),
    "humorous": (
        "funny and humorous: jokes, laughter, teasing and silly stories",
        "a playful chat full of puns, banter and comic mishaps that make people laugh",
    ),
    "inspirational": (
        "inspirational and uplifting: overcoming obstacles, hope, dreams and achievement",
        "a stirring speech calling people to rise together and build a better future",
        "a story of courage and perseverance against the odds",
    ),
    "informative": (
        "informative and factual: explains facts, figures, reports and how things work",
        "a lecture or documentary that explains history, science or a method step by step",
        "a plain news report of what happened, with numbers, dates, names and results",
    ),
    "melancholic": (
        "sad and melancholic: loss, grief, regret, loneliness and mourning",
        "a sad farewell, a funeral, remembering someone who has died",
        "nostalgia and heartbreak: a lonely, wistful look back at what is gone",
    ),
}

MOODS: Final[tuple[str, ...]] = tuple(MOOD_DESCRIPTIONS)

ENTITY_TYPES: Final[tuple[str, ...]] = ("person", "organization", "place", "work")

RATINGS: Final[tuple[str, ...]] = ("G", "PG", "PG-13", "R")

SAFETY_REASONS: Final[tuple[str, ...]] = (
    "profanity",
    "violence",
    "sexual content",
    "drugs",
    "self-harm",
)

TAG_TYPES: Final[tuple[str, ...]] = ("summary", "topic", "mood", "entity", "safety")


def canonical_topic(text: str) -> str | None:
    """The taxonomy label spelled by ``text`` (case and ``and``/``&`` insensitive), or None."""
    key = _fold(text)
    for label in TOPICS:
        if _fold(label) == key:
            return label
    return None


def canonical_mood(text: str) -> str | None:
    """The mood spelled by ``text`` (case-insensitive), or None."""
    key = text.strip().lower()
    return key if key in MOODS else None


def _fold(text: str) -> str:
    return " ".join(text.lower().replace("&", " and ").split())
