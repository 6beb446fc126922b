"""py_objects — object-heavy Python: classes, dicts, lists, JSON.

Builds a generated "shop" document of customers and orders as class
instances, turns it into plain dicts, encodes it with json.dumps, decodes it
again with json.loads, and aggregates the decoded document (group-by in
dicts, sorting, an inverted index of tags). Repeated ROUNDS times with a new
document each round; the garbage of one round is freed before the next.

usage: python3 py_objects.py [ROUNDS=4] [ORDERS=10000]
prints: py_objects rounds=... orders=... checksum=<sha256 prefix>
The checksum covers the aggregates of every round: it depends on the input
only, never on addresses, so it is the same under every allocator.
Run with PYTHONMALLOC=malloc so that objects go through malloc.
"""
import hashlib
import json
import random
import sys

CITIES = ["Lisbon", "Porto", "Turin", "Lyon", "Ghent", "Aarhus", "Krakow",
          "Tartu", "Bergen", "Graz", "Cork", "Bilbao", "Ljubljana", "Split"]
WORDS = ["red", "blue", "green", "small", "large", "steel", "wood", "glass",
         "eco", "sale", "new", "gift", "kids", "home", "garden", "tools",
         "office", "sport", "travel", "winter", "summer", "vintage"]


class Customer:
    def __init__(self, cid, name, city, tier):
        self.cid = cid
        self.name = name
        self.city = city
        self.tier = tier
        self.orders = []

    def to_dict(self):
        return {"id": self.cid, "name": self.name, "city": self.city,
                "tier": self.tier, "orders": [o.oid for o in self.orders]}


class Item:
    def __init__(self, sku, qty, price):
        self.sku = sku
        self.qty = qty
        self.price = price

    def to_dict(self):
        return {"sku": self.sku, "qty": self.qty, "price": self.price}


class Order:
    def __init__(self, oid, customer, day, items, tags, note):
        self.oid = oid
        self.customer = customer
        self.day = day
        self.items = items
        self.tags = tags
        self.note = note

    def total(self):
        return sum(i.qty * i.price for i in self.items)

    def to_dict(self):
        return {"id": self.oid, "customer": self.customer.cid, "day": self.day,
                "items": [i.to_dict() for i in self.items], "tags": list(self.tags),
                "note": self.note, "total": self.total()}


def build(rng, norders):
    ncust = max(1, norders // 8)
    customers = [Customer(c, "customer-%05d" % c, rng.choice(CITIES), rng.randint(1, 4))
                 for c in range(ncust)]
    orders = []
    for oid in range(norders):
        cust = customers[rng.randrange(ncust)]
        items = [Item("SKU-%04d" % rng.randrange(5000), rng.randint(1, 9), rng.randint(99, 99999))
                 for _ in range(rng.randint(1, 8))]
        tags = rng.sample(WORDS, rng.randint(0, 5))
        note = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        o = Order(oid, cust, rng.randrange(365), items, tags, note)
        cust.orders.append(o)
        orders.append(o)
    return {"version": 1, "customers": [c.to_dict() for c in customers],
            "orders": [o.to_dict() for o in orders]}


def aggregate(doc):
    cust = {c["id"]: c for c in doc["customers"]}
    by_city = {}
    by_day = {}
    tag_index = {}
    sku_qty = {}
    for o in doc["orders"]:
        c = cust[o["customer"]]
        s = by_city.setdefault(c["city"], {"orders": 0, "total": 0, "tiers": {}})
        s["orders"] += 1
        s["total"] += o["total"]
        s["tiers"][str(c["tier"])] = s["tiers"].get(str(c["tier"]), 0) + 1
        by_day.setdefault(o["day"], []).append(o["total"])
        for t in o["tags"]:
            tag_index.setdefault(t, []).append(o["id"])
        for it in o["items"]:
            sku_qty[it["sku"]] = sku_qty.get(it["sku"], 0) + it["qty"]
    top_skus = sorted(sku_qty.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    busiest = sorted(((sum(v), d) for d, v in by_day.items()), reverse=True)[:10]
    tags = {t: [len(ids), sum(ids) % 1000003] for t, ids in sorted(tag_index.items())}
    words = sorted({w for o in doc["orders"] for w in o["note"].split()})
    return {"cities": by_city, "top_skus": top_skus, "busiest": busiest,
            "tags": tags, "words": words, "orders": len(doc["orders"])}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    norders = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    rng = random.Random(12345)
    h = hashlib.sha256()
    nbytes = 0
    for _ in range(rounds):
        doc = build(rng, norders)
        text = json.dumps(doc, sort_keys=True)
        nbytes += len(text)
        del doc
        back = json.loads(text)
        del text
        agg = aggregate(back)
        del back
        h.update(json.dumps(agg, sort_keys=True).encode())
    print("py_objects rounds=%d orders=%d json_bytes=%d checksum=%s"
          % (rounds, norders, nbytes, h.hexdigest()[:16]))


if __name__ == "__main__":
    main()
