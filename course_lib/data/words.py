"""The vocabulary of the course's photo collection captions (used from Lecture 02 on).

Synonyms for each category (singular, plural), extra names for particular pictures (a taxi, a
poodle), words for sizes and counts, and how each scene and predicate can be said.
"""

from __future__ import annotations

# Each entry: "singular/plural" pairs separated by ";". Uncountable or paired things are
# written with their measure word ("pair of skis/pairs of skis").
_NOUNS = """
person: person/people; man/men; woman/women; guy/guys
bicycle: bicycle/bicycles; bike/bikes
car: car/cars; automobile/automobiles
motorcycle: motorcycle/motorcycles; motorbike/motorbikes
airplane: airplane/airplanes; plane/planes; jet/jets
bus: bus/buses; city bus/city buses
train: train/trains; passenger train/passenger trains
truck: truck/trucks; delivery truck/delivery trucks
boat: boat/boats
traffic light: traffic light/traffic lights; stop light/stop lights
stop sign: stop sign/stop signs; red stop sign/red stop signs
bird: bird/birds; little bird/little birds
cat: cat/cats; kitten/kittens; kitty/kitties
dog: dog/dogs; puppy/puppies; pup/pups; doggy/doggies
horse: horse/horses; pony/ponies
sheep: sheep/sheep; lamb/lambs
cow: cow/cows
elephant: elephant/elephants
bear: bear/bears; brown bear/brown bears
zebra: zebra/zebras
giraffe: giraffe/giraffes
backpack: backpack/backpacks; rucksack/rucksacks
umbrella: umbrella/umbrellas
handbag: handbag/handbags; purse/purses
tie: tie/ties; necktie/neckties
suitcase: suitcase/suitcases; piece of luggage/pieces of luggage
frisbee: frisbee/frisbees; flying disc/flying discs
skis: pair of skis/pairs of skis
sports ball: ball/balls
kite: kite/kites
skateboard: skateboard/skateboards
bottle: bottle/bottles
wine glass: wine glass/wine glasses; glass of wine/glasses of wine
cup: cup/cups; coffee cup/coffee cups; cup of coffee/cups of coffee
knife: knife/knives; kitchen knife/kitchen knives
spoon: spoon/spoons
bowl: bowl/bowls
banana: banana/bananas
apple: apple/apples
sandwich: sandwich/sandwiches
orange: orange/oranges
broccoli: head of broccoli/heads of broccoli; piece of broccoli/pieces of broccoli
carrot: carrot/carrots
hot dog: hot dog/hot dogs
pizza: slice of pizza/slices of pizza; pizza slice/pizza slices
donut: donut/donuts; doughnut/doughnuts
cake: cake/cakes; birthday cake/birthday cakes
chair: chair/chairs; wooden chair/wooden chairs
couch: couch/couches; sofa/sofas
potted plant: potted plant/potted plants; house plant/house plants; plant/plants
bed: bed/beds
toilet: toilet/toilets
tv: tv/tvs; television/televisions; TV set/TV sets
laptop: laptop/laptops; laptop computer/laptop computers
mouse: computer mouse/computer mice; mouse/mice
keyboard: keyboard/keyboards
cell phone: cell phone/cell phones; phone/phones; smartphone/smartphones
book: book/books
clock: clock/clocks
scissors: pair of scissors/pairs of scissors
teddy bear: teddy bear/teddy bears; stuffed bear/stuffed bears; teddy/teddies
toothbrush: toothbrush/toothbrushes
glasses: pair of glasses/pairs of glasses
hat: hat/hats
basket: basket/baskets; wicker basket/wicker baskets
"""

# Extra names for particular pictures of the sheet.
_SPRITE_NOUNS = """
car_1f695: taxi/taxis; cab/cabs
boat_26f5: sailboat/sailboats
boat_1f6a4: speedboat/speedboats
dog_1f429: poodle/poodles
bird_1f54a: dove/doves; white bird/white birds
sports_ball_26bd: soccer ball/soccer balls
sports_ball_1f3c0: basketball/basketballs
sports_ball_1f3c8: football/footballs
clock_23f0: alarm clock/alarm clocks
apple_1f34e: red apple/red apples
apple_1f34f: green apple/green apples
glasses_1f576: pair of sunglasses/pairs of sunglasses
hat_1f3a9: top hat/top hats
hat_1f9e2: cap/caps; baseball cap/baseball caps
umbrella_1f302: closed umbrella/closed umbrellas
"""


def _parse(text: str) -> dict[str, list[tuple[str, str]]]:
    out = {}
    for line in text.strip().splitlines():
        key, forms = line.split(": ")
        out[key] = [tuple(pair.split("/")) for pair in forms.split("; ")]
    return out


NOUNS = _parse(_NOUNS)
SPRITE_NOUNS = _parse(_SPRITE_NOUNS)
# The glasses can also be named without a measure word: "a dog in glasses".
BARE = {"pair of glasses": "glasses", "pair of sunglasses": "sunglasses"}

NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
SIZES = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}

SCENE_PLACES = {
    "beach": ("on the beach", "on a sandy beach", "at the beach", "by the sea", "on the sand"),
    "park": ("in the park", "on the grass", "in a grassy field", "on a green lawn", "in a field"),
    "street": ("on the street", "on a city street", "on the road", "in the city", "downtown"),
    "snow": ("in the snow", "on a snowy field", "on a snowy slope", "in the winter snow"),
    "kitchen table": ("on a kitchen table", "on the table", "on a wooden table", "on a table"),
    "lake": ("on the lake", "on the water", "by the lake", "at the lake"),
    "living room": ("in a living room", "in the living room", "inside a house", "in a room"),
}
SCENE_NOUNS = {
    "beach": ("a beach", "a sandy beach", "a beach scene"),
    "park": ("a park", "a grassy field", "a green park", "a field of grass"),
    "street": ("a city street", "a street", "a busy road", "a street scene"),
    "snow": ("a snowy field", "a snowy landscape", "a snow covered hill"),
    "kitchen table": ("a kitchen table", "a wooden table", "a table top"),
    "lake": ("a lake", "a calm lake", "a lake scene"),
    "living room": ("a living room", "a room", "a cozy living room"),
}

ANIMATE = {"person", "dog", "cat", "bird", "horse", "sheep", "cow", "bear", "teddy bear"}
PREDICATE_WORDS = {
    "wearing": ("wearing", "with", "wearing", "in", "sporting"),
    "in": ("in", "inside", "in"),
    "in+animate": ("sitting in", "in", "peeking out of", "inside"),
    "on": ("on", "on top of", "resting on"),
    "on+animate": ("sitting on", "on", "on top of", "standing on"),
    "next to": ("next to", "beside", "near", "by"),
    "above": ("above", "over", "up above"),
    "above+flying": ("flying over", "above", "flying above"),
    "left of": ("to the left of", "on the left of", "to the left of"),
    "right of": ("to the right of", "on the right of", "to the right of"),
}
OPENERS = ("", "", "", "A picture of ", "An image of ", "A photo of ", "There is ", "Close up of ")


def article(phrase: str) -> str:
    """Return ``phrase`` with "a" or "an" in front."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase
