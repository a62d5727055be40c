/*
 * Word lists for generated user names.
 *
 * A name is an adjective followed by an animal, each capitalised and
 * joined without a separator ("brave" + "otter" -> "BraveOtter").
 * Every word is 4 to 6 lowercase ASCII letters, so a generated name is
 * always 8 to 12 characters long.  No word appears twice in a list.
 */

#include <stddef.h>

#include "words.h"

const char *const adjectives[] = {
	"able", "adept", "adored", "adroit", "aerial", "agile", "airy",
	"alert", "alive", "alpine", "amber", "ample", "amused", "arctic",
	"ardent", "artful", "astral", "astute", "atomic", "avid", "awake",
	"azure", "balmy", "beige", "blithe", "bold", "bonny", "boreal",
	"bouncy", "brainy", "brave", "breezy", "bright", "brisk", "broad",
	"bronze", "bubbly", "busy", "calm", "candid", "canny", "caring",
	"casual", "chatty", "cheeky", "cheery", "chic", "chirpy", "choice",
	"civil", "classy", "clean", "clear", "clever", "cloudy", "cobalt",
	"comfy", "cool", "copper", "coral", "cosmic", "cosy", "cozy", "crafty",
	"creamy", "crisp", "cuddly", "curly", "cute", "dainty", "dandy",
	"dapper", "daring", "dear", "deft", "deluxe", "dewy", "dotted",
	"downy", "dreamy", "droll", "dusty", "eager", "early", "earthy",
	"easy", "elfin", "elite", "epic", "equal", "even", "exact", "expert",
	"fabled", "fair", "famed", "famous", "fancy", "fast", "feisty",
	"fiery", "fine", "firm", "fleecy", "fleet", "floral", "fluent",
	"fluffy", "fluid", "flying", "fond", "frank", "free", "fresh",
	"frosty", "frothy", "funny", "furry", "fuzzy", "genial", "gentle",
	"giant", "gifted", "gilded", "giving", "glad", "glassy", "glossy",
	"golden", "good", "grand", "grassy", "great", "green", "groovy",
	"gutsy", "handy", "happy", "hardy", "hazel", "hazy", "hearty",
	"heroic", "honest", "humble", "hushed", "ideal", "indigo", "inky",
	"ivory", "jade", "jaunty", "jazzy", "jolly", "jovial", "joyful",
	"joyous", "keen", "kind", "kindly", "lanky", "large", "lavish",
	"lawful", "leafy", "lean", "light", "lilac", "limber", "lithe",
	"little", "lively", "lofty", "loyal", "lucid", "lucky", "lunar",
	"lush", "magic", "marine", "mauve", "mellow", "merry", "mighty",
	"mild", "minty", "misty", "modern", "modest", "molten", "mossy",
	"mystic", "natty", "neat", "nifty", "nimble", "nippy", "noble",
	"novel", "ochre", "olive", "open", "ornate", "pastel", "peachy",
	"pearly", "peppy", "perky", "petite", "placid", "plucky", "plush",
	"poised", "polar", "polite", "posh", "potent", "pretty", "primal",
	"prime", "prompt", "proper", "proud", "proven", "pure", "quaint",
	"quick", "quiet", "quirky", "racing", "rainy", "rapid", "rare",
	"ready", "regal", "retro", "robust", "rocky", "rosy", "round",
	"roving", "royal", "ruby", "rugged", "russet", "rustic", "sage",
	"sandy", "sassy", "savory", "savvy", "scenic", "secure", "sedate",
	"select", "sepia", "serene", "sharp", "shiny", "silent", "silken",
	"silky", "silver", "simple", "sleek", "sleepy", "slick", "slim",
	"small", "smart", "smiley", "smoky", "smooth", "snappy", "snazzy",
	"snowy", "snug", "soft", "solar", "solid", "sonic", "sound", "speedy",
	"spicy", "spiffy", "sporty", "spotty", "spruce", "spry", "spunky",
	"starry", "steady", "stoic", "stony", "stormy", "stripy", "strong",
	"sturdy", "suave", "subtle", "sugary", "sunlit", "sunny", "super",
	"superb", "supple", "sure", "sweet", "swift", "tall", "tangy", "tawny",
	"tender", "tidy", "timely", "tiny", "toasty", "tough", "trendy",
	"trim", "true", "trusty", "tufted", "umber", "unique", "upbeat",
	"urban", "urbane", "useful", "valid", "vast", "velvet", "violet",
	"vital", "vivid", "warm", "wavy", "whole", "wide", "wild", "windy",
	"winged", "wintry", "wise", "witty", "woody", "woolly", "worthy",
	"zany", "zesty", "zippy",
};
const size_t nadjectives = sizeof(adjectives) / sizeof(adjectives[0]);

const char *const animals[] = {
	"alpaca", "anole", "avocet", "badger", "bantam", "basset", "beagle",
	"bear", "beaver", "beetle", "beluga", "betta", "bison", "bobcat",
	"bongo", "bonito", "bream", "budgie", "bull", "bunny", "caiman",
	"calf", "camel", "canary", "carp", "chick", "cicada", "civet", "clam",
	"coati", "collie", "colt", "conch", "condor", "corgi", "cougar",
	"coyote", "crab", "crane", "crow", "cuckoo", "curlew", "cygnet",
	"deer", "dingo", "dipper", "donkey", "dove", "drake", "duck", "dugong",
	"eagle", "egret", "eider", "eland", "ermine", "falcon", "fawn",
	"fennec", "ferret", "filly", "finch", "foal", "frog", "gander",
	"gannet", "gator", "gecko", "gerbil", "gibbon", "goat", "goby",
	"goose", "gopher", "grebe", "grouse", "gull", "guppy", "hare", "hawk",
	"heron", "hippo", "hoopoe", "horse", "hound", "husky", "hyrax", "ibex",
	"ibis", "iguana", "impala", "jackal", "jaguar", "jerboa", "junco",
	"kakapo", "kite", "kitten", "kitty", "kiwi", "koala", "krill", "kudu",
	"lamb", "lark", "lemur", "limpet", "lion", "lizard", "llama", "loris",
	"lynx", "macaw", "magpie", "manta", "mantis", "marlin", "marmot",
	"marten", "mayfly", "merlin", "mink", "minnow", "mole", "monkey",
	"moose", "moray", "moth", "mouse", "muskox", "mussel", "myna", "newt",
	"numbat", "ocelot", "okapi", "orca", "oriole", "oryx", "osprey",
	"otter", "owlet", "oyster", "panda", "parrot", "perch", "petrel",
	"pigeon", "piglet", "pika", "pike", "pipit", "plover", "pony",
	"poodle", "possum", "prawn", "puffer", "puffin", "puma", "puppy",
	"python", "quail", "quokka", "rabbit", "raven", "rhea", "rhino",
	"robin", "rook", "sable", "salmon", "seal", "serval", "setter",
	"shark", "sheep", "shrew", "shrike", "shrimp", "skink", "skua",
	"skunk", "sloth", "snail", "squid", "stag", "stoat", "stork", "swan",
	"tabby", "tapir", "tarpon", "teal", "tern", "tetra", "thrush", "tiger",
	"toad", "toucan", "trout", "tuna", "turkey", "turtle", "urchin",
	"vicuna", "vireo", "vole", "walrus", "wapiti", "whale", "wolf",
	"wombat", "wrasse", "wren", "zebra", "zebu",
};
const size_t nanimals = sizeof(animals) / sizeof(animals[0]);
