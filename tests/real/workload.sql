-- tests/real: sqlite3 workload, run as `sqlite3 -batch -bail real.db <workload.sql`
-- in an empty directory.  Deterministic: no random(), no dates; every query
-- that prints rows orders them fully.
.headers on
.mode list
.echo off
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -2000;          -- 2 MB: the big sorts and index builds spill

.print == schema
CREATE TABLE customer(
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL,
  city  TEXT NOT NULL,
  score REAL NOT NULL,
  tags  TEXT                        -- JSON array
);
CREATE TABLE item(
  id    INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  price INTEGER NOT NULL            -- cents
);
CREATE TABLE orders(
  id    INTEGER PRIMARY KEY,
  cust  INTEGER NOT NULL REFERENCES customer(id),
  item  INTEGER NOT NULL REFERENCES item(id),
  qty   INTEGER NOT NULL,
  day   INTEGER NOT NULL,
  note  TEXT
);
CREATE TABLE word(w TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;

.print == inserts
-- Values come from MINSTD (x' = x * 48271 mod 2^31-1) run in recursive CTEs.
-- 20,000 customers, 2,000 items, 200,000 orders, each table in one
-- transaction; then 40,000 single-row INSERT statements written to a file
-- by sqlite3 itself and read back (the parser and the statement cache).
BEGIN;
WITH RECURSIVE c(i, x) AS (SELECT 1, 42 UNION ALL SELECT i + 1, x * 48271 % 2147483647 FROM c WHERE i < 20000)
INSERT INTO customer
SELECT i,
       'cust-' || printf('%05d', i) || '-' || substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x / 26 % 9),
       'city' || (x / 1000 % 97),
       (x % 100003) / 100.0,
       json_array('t' || (x % 7), 't' || (x / 7 % 11), x / 77 % 3)
FROM c;
COMMIT;
BEGIN;
WITH RECURSIVE c(i, x) AS (SELECT 1, 4242 UNION ALL SELECT i + 1, x * 48271 % 2147483647 FROM c WHERE i < 2000)
INSERT INTO item
SELECT i, upper(hex(x)) || ' item ' || i, 100 + x % 99900 FROM c;
COMMIT;
BEGIN;
WITH RECURSIVE c(i, x) AS (SELECT 1, 424242 UNION ALL SELECT i + 1, x * 48271 % 2147483647 FROM c WHERE i < 200000)
INSERT INTO orders
SELECT i,
       1 + x % 20000,
       1 + x / 20000 % 2000,
       1 + x / 3 % 9,
       x / 11 % 365,
       CASE WHEN x % 5 = 0 THEN NULL
            ELSE printf('%.*c', 1 + x / 13 % 300, char(97 + x / 17 % 26)) || ' order ' || i END
FROM c;
COMMIT;
.headers off
.output inserts.sql
SELECT 'BEGIN;';
WITH RECURSIVE c(i, x) AS (SELECT 1, 7 UNION ALL SELECT i + 1, x * 48271 % 2147483647 FROM c WHERE i < 40000)
SELECT printf('INSERT OR REPLACE INTO word VALUES(%Q, %d);',
              substr('etaoinshrdlucmfwypvbgkjqxz', 1 + x % 26, 1)
              || substr('etaoinshrdlucmfwypvbgkjqxz', 1 + x / 26 % 26, 1)
              || substr('etaoinshrdlucmfwypvbgkjqxz', 1 + x / 676 % 13, 1)
              || substr('etaoinshrdlucmfwypvbgkjqxz', 1 + x / 8788 % 7, 1 + x / 61516 % 4), i)
FROM c;
SELECT 'COMMIT;';
.output stdout
.headers on
.read inserts.sql
SELECT count(*) AS customers FROM customer;
SELECT count(*) AS items FROM item;
SELECT count(*) AS orders, sum(qty) AS qty, sum(length(note)) AS note_bytes FROM orders;
SELECT count(*) AS words, sum(n) AS n FROM word;

.print == indexes
CREATE INDEX orders_cust ON orders(cust);
CREATE INDEX orders_item_day ON orders(item, day);
CREATE INDEX customer_city_score ON customer(city, score DESC);
CREATE INDEX orders_note ON orders(note) WHERE note IS NOT NULL;
ANALYZE;

.print == join + group by: top customers by spend
SELECT c.id, c.name, c.city, count(*) AS n, sum(o.qty * i.price) AS spend
FROM orders o JOIN customer c ON c.id = o.cust JOIN item i ON i.id = o.item
GROUP BY c.id ORDER BY spend DESC, c.id LIMIT 15;

.print == per city
SELECT c.city, count(DISTINCT c.id) AS customers, count(o.id) AS orders,
       sum(o.qty) AS qty, round(avg(c.score), 4) AS avg_score,
       min(o.day) AS first_day, max(o.day) AS last_day
FROM customer c LEFT JOIN orders o ON o.cust = c.id
GROUP BY c.city ORDER BY c.city;

.print == window functions: running totals per item (first items)
SELECT item, day, qty, sum(qty) OVER (PARTITION BY item ORDER BY day, id) AS running,
       rank() OVER (PARTITION BY item ORDER BY qty DESC, id) AS rk
FROM orders WHERE item <= 3 ORDER BY item, day, id LIMIT 40;

.print == string functions, LIKE, group_concat over an ordered subquery
SELECT city, group_concat(name, ',') AS names FROM
  (SELECT city, name FROM customer WHERE name LIKE '%-abc%' ORDER BY city, name)
GROUP BY city ORDER BY city LIMIT 20;
SELECT length(group_concat(note, '|')) AS total_len, count(*) AS n
FROM (SELECT note FROM orders WHERE note LIKE '%z order 1%' ORDER BY id);
SELECT substr(note, 1, 10) AS head, count(*) AS n FROM orders
WHERE note IS NOT NULL GROUP BY head ORDER BY n DESC, head LIMIT 10;
SELECT replace(upper(name), '-', '_') AS u, instr(name, 'e') AS e, trim(city, 'cy') AS t
FROM customer ORDER BY id DESC LIMIT 5;

.print == json
SELECT json_extract(tags, '$[0]') AS t0, count(*) AS n, sum(json_array_length(tags)) AS len
FROM customer GROUP BY t0 ORDER BY t0;
SELECT json_group_array(id) AS ids FROM (SELECT id FROM customer WHERE id % 1000 = 0 ORDER BY id);
SELECT j.value AS tag, count(*) AS n FROM customer, json_each(customer.tags) AS j
WHERE j.type = 'text' GROUP BY tag ORDER BY n DESC, tag LIMIT 10;

.print == big sort (all orders by a computed key), checksum of the order
SELECT count(*) AS n, sum(rn * (id % 1000)) % 1000000007 AS weighted FROM
  (SELECT id, row_number() OVER (ORDER BY (qty * 7919 + day * 31 + id) % 10007, note DESC, id) AS rn
   FROM orders);
SELECT id, cust, item, qty, day FROM orders ORDER BY note DESC NULLS LAST, id LIMIT 5;

.print == correlated subqueries, EXISTS, IN, UNION, INTERSECT, EXCEPT
SELECT count(*) AS big_spenders FROM customer c
WHERE (SELECT sum(o.qty) FROM orders o WHERE o.cust = c.id) > 60;
SELECT count(*) AS no_orders FROM customer c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.cust = c.id);
SELECT count(*) AS n FROM (SELECT cust FROM orders WHERE day < 10 UNION SELECT id FROM customer WHERE score > 900);
SELECT count(*) AS n FROM (SELECT cust FROM orders WHERE day < 100 INTERSECT SELECT cust FROM orders WHERE qty = 9);
SELECT count(*) AS n FROM (SELECT id FROM item EXCEPT SELECT item FROM orders WHERE day % 2 = 0);

.print == recursive CTE: collatz lengths
WITH RECURSIVE col(start, x, steps) AS (
  SELECT value, value, 0 FROM generate_series(1, 3000)
  UNION ALL SELECT start, CASE WHEN x % 2 THEN 3 * x + 1 ELSE x / 2 END, steps + 1 FROM col WHERE x > 1)
SELECT max(steps) AS longest, sum(steps) AS total FROM col WHERE x = 1;

.print == updates and deletes
BEGIN;
UPDATE orders SET qty = qty + 1, note = coalesce(note, '') || '!' WHERE id % 7 = 0;
UPDATE customer SET score = round(score * 1.1, 2), tags = json_insert(tags, '$[#]', 'vip')
  WHERE id IN (SELECT cust FROM orders GROUP BY cust HAVING sum(qty) > 50);
DELETE FROM orders WHERE day BETWEEN 100 AND 140;
DELETE FROM customer WHERE id NOT IN (SELECT cust FROM orders);
DELETE FROM word WHERE n % 3 = 0;
COMMIT;
SAVEPOINT s1;
DELETE FROM orders;
SELECT count(*) AS after_delete_all FROM orders;
ROLLBACK TO s1;
RELEASE s1;
SELECT changes() AS last_changes, total_changes() AS total;
SELECT count(*) AS orders, sum(qty) AS qty, sum(length(note)) AS note_bytes FROM orders;
SELECT count(*) AS customers, round(sum(score), 2) AS score, sum(json_array_length(tags)) AS tags FROM customer;
SELECT count(*) AS words, sum(n) AS n, min(w) AS first, max(w) AS last FROM word;

.print == table rebuild: CREATE TABLE AS, DROP
CREATE TABLE spend AS
  SELECT o.cust, sum(o.qty * i.price) AS total FROM orders o JOIN item i ON i.id = o.item GROUP BY o.cust;
CREATE INDEX spend_total ON spend(total);
SELECT count(*) AS n, sum(total) AS total, max(total) AS top FROM spend;
SELECT cust, total FROM spend ORDER BY total DESC, cust LIMIT 5;
DROP INDEX orders_note;
DROP TABLE spend;

.print == vacuum, integrity
PRAGMA wal_checkpoint(TRUNCATE);
VACUUM;
PRAGMA integrity_check;
PRAGMA foreign_key_check;
SELECT name, type FROM sqlite_schema ORDER BY name;
.sha3sum
.print == in-memory copy, dump/restore of a table
ATTACH ':memory:' AS mem;
CREATE TABLE mem.o AS SELECT * FROM main.orders WHERE id % 3 = 0;
SELECT count(*) AS n, sum(qty) AS qty, sum(length(note)) AS notes FROM mem.o;
DETACH mem;
.print == done
