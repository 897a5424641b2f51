-- After the load: coditect.projects' triggers back on, and an error unless their states are as before.
\set table coditect.projects
\set which USER
\ir triggers_on.sql
