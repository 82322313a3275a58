"""The lab's databases: MongoDB (:mod:`.mongo`) and SQL (:mod:`.sql`)."""
