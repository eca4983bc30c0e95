// A round-robin balancer in JavaScript, built by componentize-js with its default features.
// WIT maps to JavaScript as: `result<T, string>` = return T or throw a string, `option<T>` =
// value or undefined, `u64` = BigInt, enums = their kebab-case names as strings, records =
// objects with camelCase fields.
import { log } from "switchyard:policy/host@0.1.0";

let upstreams = [];
let next = 0;

export const balancer = {
  init(config) {
    if (config !== "" && config !== "round-robin") {
      throw `unknown config ${JSON.stringify(config)}`;
    }
    return { loads: "sampled", headers: [] };
  },

  setUpstreams(generation, list) {
    upstreams = list;
    next = 0;
    log("debug", `generation ${generation}: ${list.length} upstreams`);
  },

  pick(keyHash, headers, loads) {
    if (upstreams.length === 0) {
      return undefined; // nothing can serve: the gateway answers 503
    }
    const picked = next % upstreams.length;
    next = (next + 1) % upstreams.length;
    return picked;
  },
};
