"""Door to door (联户走访, design.md §8): what party members do beyond tickets.

One module per job: ``words`` (stance, help words, topics, deadlines from
bot/data/visits.toml), ``scope`` (which households a campaign covers and a
person may visit), ``campaigns`` (opening, opinions, closing with a
summary), ``results`` (coverage per building and member, households not
reached, choices, topics), ``rounds`` (recording a visit), ``care`` (关爱对象
and their visit clock) and ``export`` (every opinion to Excel). Handlers,
the console and the CLI call these; nothing here knows about HTTP.
"""
