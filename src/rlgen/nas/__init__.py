"""Neural architecture search with a REINFORCE controller (Zoph & Le 2017; NASNet; MnasNet).

- :mod:`rlgen.nas.spaces`: search spaces as data (NASNet cells, MnasNet's factorized table);
- :mod:`rlgen.nas.children`: any architecture built into an ``nn.Module`` for 28 x 28 images;
- :mod:`rlgen.nas.controller`: the LSTM controller trained with REINFORCE, and random search;
- :mod:`rlgen.nas.rewards`: accuracy, ACC * (MACs / T)^w, the hard constraint; FLOP counts;
- :mod:`rlgen.nas.store`: every trial and the controller state in SQLite, committed as it comes;
- :mod:`rlgen.nas.search`: the loop (propose, train children as independent jobs, learn);
- :mod:`rlgen.nas.command`: ``rlgen nas search``, ``rlgen nas show``, ``rlgen nas train-best``.
"""
