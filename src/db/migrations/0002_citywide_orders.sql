-- Decisions D-20: an order in a city without districts searches the whole city; "no district" (manual
-- assignment only) exists only where the city has districts. Open orders created before the ruling in such
-- cities were marked "no district" and escalated on every tick: they become distributable.
UPDATE orders SET no_district = 0
WHERE no_district = 1
  AND status NOT IN ('CLOSED', 'CANCELED')
  AND NOT EXISTS (SELECT 1 FROM districts d WHERE d.city_id = orders.city_id);
