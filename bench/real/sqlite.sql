-- sqlite.sql — the sqlite3 workload of bench/run.sh.
--
-- usage: sqlite3 -bail DB -cmd ".parameter set @rows N" ".read bench/real/sqlite.sql"
-- Builds an orders database of @rows rows (customers: @rows / 10, products:
-- 2000) from recursive CTEs with arithmetic pseudo-random values (no
-- random(): the data must be the same every run), adds indexes, runs joins,
-- group-bys, a window function, updates and deletes, VACUUMs, and checks
-- integrity. Everything printed depends only on the data, so the output is
-- compared across allocators. A 64 MiB page cache keeps sqlite's own memory
-- (malloc'd) busy. No PRAGMA temp_store here: changing it drops the temp
-- schema, and with it the CLI's @rows parameter; run.sh points
-- SQLITE_TMPDIR at the tmpfs work directory instead.
PRAGMA cache_size = -65536;
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;

BEGIN;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
                       tier INTEGER NOT NULL, since INTEGER NOT NULL);
CREATE TABLE products(id INTEGER PRIMARY KEY, sku TEXT NOT NULL, category TEXT NOT NULL,
                      price INTEGER NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, product INTEGER NOT NULL,
                    qty INTEGER NOT NULL, day INTEGER NOT NULL, note TEXT);

WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < max(1, @rows / 10))
INSERT INTO customers
SELECT i, printf('customer-%06d', i),
       'city-' || ((i * 7919) % 97),
       1 + (i * 31) % 4,
       (i * 104729) % 3650
FROM c;

WITH RECURSIVE p(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM p WHERE i < 2000)
INSERT INTO products
SELECT i, printf('SKU-%05d-%s', i, substr('ABCDEFGHIJKLMNOP', 1 + i % 16, 1 + i % 7)),
       'cat-' || (i % 37),
       99 + (i * 48271) % 99901
FROM p;

WITH RECURSIVE o(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM o WHERE i < @rows)
INSERT INTO orders
SELECT i,
       1 + (i * 2654435761) % max(1, @rows / 10),
       1 + (i * 40503) % 2000,
       1 + (i * 13) % 9,
       (i * 7) % 365,
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE printf('note %d: %s', i, substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor', 1 + i % 40, 10 + i % 37)) END
FROM o;
COMMIT;

CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_product_day ON orders(product, day);
CREATE INDEX customers_city ON customers(city, tier);
CREATE INDEX orders_note ON orders(note);

SELECT 'rows', (SELECT count(*) FROM customers), (SELECT count(*) FROM products), (SELECT count(*) FROM orders);

-- revenue per city and tier (join of three tables, group-by)
SELECT c.city, c.tier, count(*), sum(o.qty * p.price)
FROM orders o JOIN customers c ON c.id = o.customer JOIN products p ON p.id = o.product
GROUP BY c.city, c.tier ORDER BY c.city, c.tier;

-- best categories per month
SELECT p.category, o.day / 30 AS month, sum(o.qty), count(DISTINCT o.customer)
FROM orders o JOIN products p ON p.id = o.product
GROUP BY p.category, month ORDER BY sum(o.qty) DESC, p.category, month LIMIT 40;

-- top customers with a window function
SELECT name, total, rnk FROM (
  SELECT c.name, sum(o.qty * p.price) AS total,
         rank() OVER (PARTITION BY c.city ORDER BY sum(o.qty * p.price) DESC, c.name) AS rnk
  FROM orders o JOIN customers c ON c.id = o.customer JOIN products p ON p.id = o.product
  GROUP BY c.id)
WHERE rnk <= 2 ORDER BY total DESC, name LIMIT 50;

-- string work: group by a computed key, distinct notes
SELECT substr(note, -8), count(*) FROM orders WHERE note IS NOT NULL
GROUP BY substr(note, -8) ORDER BY count(*) DESC, 1 LIMIT 20;
SELECT count(DISTINCT note), max(length(note)), group_concat(DISTINCT length(note)) FROM orders;

-- updates and deletes through the indexes
UPDATE orders SET qty = qty + 1, note = coalesce(note, '') || ' (upd)'
WHERE customer IN (SELECT id FROM customers WHERE tier = 4);
DELETE FROM orders WHERE day BETWEEN 100 AND 130;
DELETE FROM customers WHERE id NOT IN (SELECT DISTINCT customer FROM orders);
INSERT INTO orders(customer, product, qty, day, note)
SELECT customer, product, qty * 2, (day + 180) % 365, 'copy of ' || id FROM orders WHERE id % 5 = 0;

SELECT 'after', (SELECT count(*) FROM customers), (SELECT count(*) FROM orders), (SELECT sum(qty) FROM orders);

VACUUM;

SELECT count(*), sum(qty), sum(length(note)) FROM orders INDEXED BY orders_customer WHERE customer > 0;
SELECT o.day, count(*), sum(p.price) FROM orders o JOIN products p ON p.id = o.product
WHERE o.product BETWEEN 100 AND 400 GROUP BY o.day ORDER BY o.day LIMIT 30;
PRAGMA integrity_check;
