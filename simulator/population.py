"""The synthetic public: streets, addresses, households, people and vehicles.

Faker (``en_GB``) builds small pools of names and places once; every person, address and vehicle is
then drawn from those pools with numpy. Surnames follow published UK frequencies (Faker's weighted
list covers the commonest 500, about 40% of people; the rest come from a long tail), so the same
surname turns up by chance as often as it does in a real force's records.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass

import numpy as np
from faker import Faker
from faker.providers.person.en_GB import Provider as GBPerson

from snoopbench.simulator.rng import derive, exact_sum, faker_seed, normalised, weighted

_TAIL_LOCALES = ("en_US", "en_IE", "en_NZ", "en_IN", "de_DE", "it_IT", "pl_PL", "nl_NL", "fr_FR", "es_ES")
MAKES = np.array(["Ford", "Vauxhall", "Volkswagen", "BMW", "Audi", "Toyota", "Nissan", "Mercedes-Benz",
                  "Kia", "Hyundai", "Peugeot", "Renault", "Skoda", "Honda", "Land Rover", "Tesla"])
COLOURS = np.array(["black", "white", "grey", "silver", "blue", "red", "green", "orange", "yellow", "brown"])


@dataclass
class Pools:
    """Name and place pools, built once per world from Faker."""

    surnames: np.ndarray        # str
    surname_p: np.ndarray       # frequency weights, sum 1
    female_names: np.ndarray
    male_names: np.ndarray
    street_names: np.ndarray
    towns: np.ndarray
    outward_codes: np.ndarray


@dataclass
class Population:
    """Column arrays of the public. Indexes are ids: person i has ``person_id == i``."""

    pools: Pools
    # addresses
    addr_street: np.ndarray     # int32
    addr_number: np.ndarray     # int32
    addr_x: np.ndarray          # int32 metres
    addr_y: np.ndarray
    street_area: np.ndarray     # int16 area index per street
    street_name: np.ndarray     # int32 index into pools.street_names
    street_town: np.ndarray     # int32 index into pools.towns
    street_postcode: np.ndarray  # str
    # people
    surname: np.ndarray         # int32 index into pools.surnames
    forename: np.ndarray        # int32 index into female/male names by sex
    female: np.ndarray          # bool
    birth_day: np.ndarray       # int32 days since 1970-01-01
    address: np.ndarray         # int64
    # vehicles
    veh_keeper: np.ndarray      # int64
    veh_make: np.ndarray        # int8
    veh_colour: np.ndarray      # int8
    veh_vrm: np.ndarray         # str
    # look-up popularity (repeat victims, offenders, locations): weights summing to 1
    person_pop: np.ndarray
    address_pop: np.ndarray
    vehicle_pop: np.ndarray
    # canary records planted for protective monitoring: never drawn by legitimate work
    canary_people: np.ndarray = None
    canary_vehicles: np.ndarray = None
    vehicle_lure_pop: np.ndarray = None   # what a browsing misuser draws from: canaries included

    def plant_canaries(self, cfg: dict, n_staff: int, excluded: np.ndarray, rng: np.random.Generator) -> None:
        """Pick canary people and vehicles; take them out of every legitimate sampler."""
        n_p = int(round(cfg["people_per_1000_staff"] * n_staff / 1000))
        n_v = int(round(cfg["vehicles_per_1000_staff"] * n_staff / 1000))
        free = np.setdiff1d(np.arange(self.n_people), excluded)
        people = np.sort(rng.choice(free, size=min(n_p + n_v, len(free)), replace=False)).astype(np.int64)
        vehicles = np.sort(rng.choice(len(self.veh_keeper), size=min(n_v, len(self.veh_keeper)), replace=False))
        keepers = people[n_p:n_p + len(vehicles)] if len(people) > n_p else people[:len(vehicles)]
        self.female[keepers] = True
        self.veh_keeper[vehicles[: len(keepers)]] = keepers
        self.canary_people = people
        self.canary_vehicles = vehicles.astype(np.int64)
        mean_w = exact_sum(self.vehicle_pop) / len(self.vehicle_pop)
        self.person_pop[people] = 0.0
        self.person_pop /= exact_sum(self.person_pop)
        self.vehicle_lure_pop = self.vehicle_pop.copy()
        self.vehicle_lure_pop[vehicles] = mean_w * cfg["lure_factor"]
        self.vehicle_lure_pop /= exact_sum(self.vehicle_lure_pop)
        self.vehicle_pop[vehicles] = 0.0
        self.vehicle_pop /= exact_sum(self.vehicle_pop)

    @property
    def n_people(self) -> int:
        return len(self.surname)

    @property
    def n_addresses(self) -> int:
        return len(self.addr_street)


def build_pools(cfg: dict, seed: int) -> Pools:
    """Faker is called here only: a few thousand names, never per row."""
    fake = Faker("en_GB")
    fake.seed_instance(faker_seed(seed, "pools"))
    gb = dict(GBPerson.last_names)
    head = np.array(list(gb), dtype=object)
    head_w = np.array(list(gb.values()), dtype=float) / 100.0
    n_tail = max(cfg["surname_pool"] - len(head), 1)
    tail: list[str] = []
    seen = set(gb)
    for loc in _TAIL_LOCALES:
        module = importlib.import_module(f"faker.providers.person.{loc}")
        names = getattr(module.Provider, "last_names", ())
        for n in sorted(names):
            if n not in seen and n.isalpha():
                seen.add(n)
                tail.append(n)
    if not tail:
        raise RuntimeError("Faker provides no surnames beyond en_GB's; check the Faker installation")
    rng = derive(seed, "pools")
    tail_arr = np.array(tail, dtype=object)
    if len(tail_arr) >= n_tail:
        tail_arr = rng.choice(tail_arr, size=n_tail, replace=False)
    # Long tail: Zipf-like weights below the rarest listed surname, together the unlisted share.
    ranks = np.arange(1, len(tail_arr) + 1, dtype=float)
    tail_w = 1.0 / ranks**0.6
    tail_w *= max(1.0 - exact_sum(head_w), 0.0) / exact_sum(tail_w)
    surnames = np.concatenate([head, tail_arr])
    p = np.concatenate([head_w, tail_w])
    # Faker's en_GB street suffixes were lower case in older Faker releases ("George park"): capitalise
    # every word's first letter (and nothing else: "McDonald Road"), so every Faker gives one pool.
    streets = sorted({" ".join(w[:1].upper() + w[1:] for w in fake.street_name().split())
                      for _ in range(cfg["street_pool"] * 2)})[: cfg["street_pool"]]
    towns = sorted({fake.city() for _ in range(400)})
    outward = sorted({fake.postcode().split()[0] for _ in range(600)})
    return Pools(
        surnames=surnames.astype(str), surname_p=normalised(p),
        female_names=np.array(GBPerson.first_names_female, dtype=str),
        male_names=np.array(GBPerson.first_names_male, dtype=str),
        street_names=np.array(streets, dtype=str), towns=np.array(towns, dtype=str),
        outward_codes=np.array(outward, dtype=str),
    )


def _zipf_weights(rng: np.random.Generator, n: int, s: float) -> np.ndarray:
    """Popularity weights in random order: a few ids draw most look-ups."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    rng.shuffle(w)
    return normalised(w)


def _vrms(rng: np.random.Generator, n: int) -> np.ndarray:
    """UK-style registration marks (two letters, two digits, three letters), vectorised."""
    letters = np.frombuffer(b"ABCDEFGHJKLMNOPRSTUVWXYZ", dtype="S1")
    digits = np.frombuffer(b"0123456789", dtype="S1")
    cols = [letters[rng.integers(0, len(letters), n)], letters[rng.integers(0, len(letters), n)],
            digits[rng.integers(0, 10, n)], digits[rng.integers(0, 10, n)], np.full(n, b" ", "S1")]
    cols += [letters[rng.integers(0, len(letters), n)] for _ in range(3)]
    return np.stack(cols, axis=1).view("S8").ravel().astype(str)


def build_population(cfg: dict, n_people: int, area_w: np.ndarray, seed: int, start: dt.date) -> Population:
    """Streets in areas, addresses along streets, households at addresses, vehicles with keepers."""
    pools = build_pools(cfg, seed)
    rng = derive(seed, "population")
    n_addr = max(int(round(n_people / cfg["people_per_address"])), 4)
    per_street = cfg["addresses_per_street"]
    n_streets = -(-n_addr // per_street)
    n_areas = len(area_w)
    streets_per_area = np.floor(area_w * n_streets).astype(np.int64)
    streets_per_area[np.argsort(-(area_w * n_streets - streets_per_area), kind="stable")[
        : n_streets - streets_per_area.sum()]] += 1
    street_area = np.repeat(np.arange(n_areas, dtype=np.int16), streets_per_area)
    size = cfg["area_size_m"]
    sx = rng.integers(0, size, n_streets) + street_area.astype(np.int64) * size
    sy = rng.integers(0, size, n_streets)
    angle = rng.uniform(0, np.pi, n_streets)
    street_name = rng.integers(0, len(pools.street_names), n_streets).astype(np.int32)
    towns_per_area = max(len(pools.towns) // n_areas, 1)
    street_town = (street_area.astype(np.int32) * towns_per_area
                   + rng.integers(0, towns_per_area, n_streets)).astype(np.int32) % len(pools.towns)
    outward = pools.outward_codes[rng.integers(0, len(pools.outward_codes), n_streets)]
    inward = (rng.integers(1, 10, n_streets).astype(str).astype(object)
              + np.frombuffer(b"ABDEFGHJLNPQRSTUWXYZ", "S1")[rng.integers(0, 20, (n_streets, 2))]
              .view("S2").ravel().astype(str).astype(object))
    street_postcode = (outward.astype(object) + " " + inward).astype(str)

    addr_street = np.repeat(np.arange(n_streets, dtype=np.int32), per_street)[:n_addr]
    addr_number = (np.arange(n_addr) - np.searchsorted(addr_street, addr_street) + 1).astype(np.int32)
    along = addr_number.astype(float) * 12.0
    addr_x = (sx[addr_street] + np.cos(angle[addr_street]) * along).astype(np.int32)
    addr_y = (sy[addr_street] + np.sin(angle[addr_street]) * along).astype(np.int32)

    # Households: every address gets at least one resident; the rest are spread at random.
    # (Uniform multinomial counts drawn as integers: no float arithmetic, the same on every numpy.)
    extra = np.bincount(rng.integers(0, n_addr, max(n_people - n_addr, 0)), minlength=n_addr)
    size_hh = 1 + extra
    address = np.repeat(np.arange(n_addr, dtype=np.int64), size_hh)[:n_people]
    # Household members mostly share a surname.
    hh_surname = weighted(rng, pools.surname_p, n_addr).astype(np.int32)
    own = weighted(rng, pools.surname_p, n_people).astype(np.int32)
    surname = np.where(rng.random(n_people) < 0.8, hh_surname[address], own)
    female = rng.random(n_people) < cfg["female_share"]
    forename = np.where(female, rng.integers(0, len(pools.female_names), n_people),
                        rng.integers(0, len(pools.male_names), n_people)).astype(np.int32)
    epoch = (start - dt.date(1970, 1, 1)).days
    age_days = (rng.beta(2.0, 3.2, n_people) * 90 * 365.25).astype(np.int32)
    birth_day = (epoch - age_days).astype(np.int32)

    n_veh = int(round(n_people * cfg["vehicles_per_person"]))
    adults = np.flatnonzero(age_days >= 17 * 365)
    veh_keeper = adults[rng.integers(0, len(adults), n_veh)].astype(np.int64)
    z = cfg["popularity_zipf"]
    return Population(
        pools=pools, addr_street=addr_street, addr_number=addr_number, addr_x=addr_x, addr_y=addr_y,
        street_area=street_area, street_name=street_name, street_town=street_town,
        street_postcode=street_postcode, surname=surname, forename=forename, female=female,
        birth_day=birth_day, address=address, veh_keeper=veh_keeper,
        veh_make=rng.integers(0, len(MAKES), n_veh).astype(np.int8),
        veh_colour=rng.integers(0, len(COLOURS), n_veh).astype(np.int8), veh_vrm=_vrms(rng, n_veh),
        person_pop=_zipf_weights(rng, n_people, z), address_pop=_zipf_weights(rng, n_addr, z),
        vehicle_pop=_zipf_weights(rng, n_veh, z),
    )
