-- Built from sql/*.sql by make; edit those files instead.
\echo Use "CREATE EXTENSION coditect CASCADE" to load this file. \quit
