"""The annotator's label descriptions and calibration before issue 22 (the named peer).

A frozen copy of ``core/taxonomy.py``'s descriptions and ``core/annotate/classify.py``'s
calibration as they were when the topics were tuned on BBC News only, so that
``bench/annotation.py`` measures the current classifier against them in the same run.
"""

from __future__ import annotations

from typing import Final

PEER_TOPIC_TEMPERATURE: Final = 0.0375
PEER_MOOD_TEMPERATURE: Final = 0.05
PEER_MOOD_LLM_WEIGHT: Final = 1.5

PEER_TOPIC_DESCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "News & Politics": (
        "politics: the government, ministers, parliament, elections and political parties",
        "the prime minister, the opposition leader and MPs debate a new law and policy",
        "an election campaign: voters, polls, candidates, Labour, Conservatives, manifesto",
        "government policy on immigration, asylum, identity cards, terrorism laws and human rights",
        "diplomacy and international affairs between countries, presidents and foreign ministers",
        "breaking news report about current events, a government announcement and a spokesman",
    ),
    "Business & Finance": (
        "business news: company profits, sales, shares and the stock market",
        "the economy, interest rates, inflation, growth, the central bank and the dollar",
        "a firm's chief executive announces a takeover, merger or job cuts to investors",
        "oil prices, trade deficit, exports, economic figures and financial markets",
        "personal finance, money, banking, pensions, debt, investment and taxes",
    ),
    "Technology": (
        "technology: computers, software, the internet and gadgets",
        "mobile phones, broadband, video games consoles, digital music players and new devices",
        "computer viruses, hackers, spam, online security and web sites",
        "tech companies like Microsoft, Apple, Google and Sony launch new products",
        "programming, artificial intelligence, data, electronics and engineering",
    ),
    "Science": (
        "science: researchers publish a study about physics, chemistry or biology",
        "space exploration, astronomy, planets, NASA and rockets",
        "the environment, climate change, animals, evolution and the natural world",
        "scientists run experiments in a laboratory and test a hypothesis",
    ),
    "Health & Medicine": (
        "health and medicine: doctors, patients, hospitals and disease",
        "a new drug treatment, vaccines, cancer research and clinical trials",
        "fitness, diet, nutrition, mental health and wellbeing",
        "the health service, nurses, surgery and medical care",
    ),
    "Education": (
        "education: schools, teachers, pupils, exams and universities",
        "a lecture or lesson explaining how something works to students",
        "learning a language, studying, homework, degrees and tuition fees",
    ),
    "History": (
        "history: past centuries, ancient civilisations, kings, empires and wars of the past",
        "the Second World War, historical events, historians and archives",
        "the story of how an old tradition, building or country came to be",
    ),
    "Arts & Culture": (
        "arts and culture: painting, sculpture, museums, galleries and exhibitions",
        "literature, novels, poetry, authors and book prizes",
        "theatre, opera, ballet, classical performance and architecture",
    ),
    "Entertainment": (
        "entertainment: films, movies, cinema, actors and the box office",
        "television shows, TV series, soap operas, reality TV and broadcasters",
        "celebrities, film stars, showbiz awards like the Oscars, Baftas and Golden Globes",
        "a film director's new movie premieres; the actress won best actress",
        "pop stars, bands and the music industry: album sales, charts, Grammys and Brit awards",
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
    ),
    "Religion & Spirituality": (
        "religion: God, faith, church, prayer and the Bible",
        "spirituality, meditation, beliefs, the soul and religious traditions",
        "Islam, Christianity, Judaism, Hinduism, Buddhism and places of worship",
    ),
    "Kids & Family": (
        "children and family: parenting, babies and raising kids",
        "a story for children with cartoons, games and songs for kids",
    ),
    "Leisure & Hobbies": (
        "hobbies and leisure: cooking recipes, gardening and crafts",
        "travel, holidays, food, restaurants and the outdoors",
        "home improvement, fashion, cars, pets and collecting",
    ),
    "Work & Careers": (
        "work and careers: jobs, job interviews and the workplace",
        "a team meeting at work: the project manager, colleagues, deadlines and the budget",
        "a product design meeting about requirements, the remote control and the user interface",
        "career advice, employees, managers, office life and professional skills",
    ),
}

PEER_MOOD_DESCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "upbeat": ("cheerful, happy and energetic: great news, excited and celebrating",),
    "calm": ("calm, relaxed and gentle: a quiet, peaceful and slow conversation",),
    "serious": ("serious and grave: a sober discussion of a hard problem and its consequences",),
    "tense": ("tense and urgent: conflict, threats, pressure, a crisis and angry disagreement",),
    "eerie": ("eerie and creepy: a strange, dark, haunting and unsettling mystery",),
    "humorous": ("funny and humorous: jokes, laughter, teasing and silly stories",),
    "inspirational": (
        "inspirational and uplifting: overcoming obstacles, hope, dreams and achievement",
    ),
    "informative": (
        "informative and factual: explains facts, figures, reports and how things work",
    ),
    "melancholic": ("sad and melancholic: loss, grief, regret, loneliness and mourning",),
}
