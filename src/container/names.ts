/** Docker-style random names (`adjective_surname`) for containers created without --name. */
import { randomInt } from 'node:crypto';

const LEFT = [
  'admiring', 'agitated', 'amazing', 'angry', 'awesome', 'blissful', 'bold', 'brave', 'charming', 'clever',
  'cool', 'crazy', 'dazzling', 'determined', 'eager', 'ecstatic', 'elastic', 'elegant', 'epic', 'fervent',
  'focused', 'friendly', 'gallant', 'gifted', 'goofy', 'gracious', 'happy', 'hopeful', 'hungry', 'jolly',
  'keen', 'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying', 'nice',
  'nifty', 'nostalgic', 'objective', 'optimistic', 'peaceful', 'pensive', 'practical', 'priceless', 'quirky', 'quizzical',
  'relaxed', 'reverent', 'romantic', 'serene', 'sharp', 'silly', 'sleepy', 'stoic', 'strange', 'sweet',
  'tender', 'thirsty', 'trusting', 'upbeat', 'vibrant', 'vigilant', 'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];
const RIGHT = [
  'albattani', 'allen', 'archimedes', 'babbage', 'banach', 'bardeen', 'bartik', 'bell', 'blackwell', 'bohr',
  'booth', 'borg', 'bose', 'brown', 'carson', 'cerf', 'chandrasekhar', 'clarke', 'curie', 'darwin',
  'dijkstra', 'einstein', 'elion', 'euler', 'faraday', 'fermat', 'feynman', 'franklin', 'galileo', 'gauss',
  'goldberg', 'goodall', 'hamilton', 'hawking', 'heisenberg', 'hodgkin', 'hopper', 'hypatia', 'jemison', 'johnson',
  'kalam', 'kepler', 'knuth', 'lamport', 'leakey', 'lovelace', 'lumiere', 'mayer', 'mccarthy', 'meitner',
  'mendel', 'morse', 'napier', 'newton', 'nobel', 'noether', 'pascal', 'pasteur', 'payne', 'perlman',
  'pike', 'poincare', 'ritchie', 'shannon', 'sinoussi', 'stonebraker', 'swartz', 'tesla', 'thompson', 'torvalds',
  'turing', 'varahamihira', 'villani', 'wescoff', 'wiles', 'williams', 'wilson', 'wing', 'wozniak', 'wright', 'yalow', 'yonath',
];

/** `retry` > 0 appends a digit, as Docker does after a collision. */
export function randomName(retry = 0): string {
  const name = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
  return retry > 0 ? `${name}${randomInt(10)}` : name;
}

/** Docker's rule for --name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. */
export const NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
