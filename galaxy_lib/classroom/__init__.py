"""A class of students: the instructor's held-back galaxies (:mod:`.key`), the students' hand-ins
(:mod:`.submissions`), every run scored on the key (:mod:`.score`) and the class index
(:mod:`.page`). ``python -m galaxy_lib class SUBMISSIONS --key KEY --out reports/class``.

A submission is data, never code: no student notebook is executed, models load in Keras' safe
mode, archives are unpacked only after every member's path is checked, files are read only inside
SUBMISSIONS and nothing is written outside ``--out``.
"""
