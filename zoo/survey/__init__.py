"""The survey this project comes from, checked: its claims (``claims``) and its papers' cost
figures against the zoo's cost model (``costs``). A top floor: it reads the benchmark suites'
results and trains through ``zoo.experiment``, never the other way round."""
