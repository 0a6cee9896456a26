"""The web server: REST API, web UI and metrics over the metadata store.

Installed with the ``server`` extra (``pip install 'headwater[server]'``). It keeps no
state that correctness depends on: everything it shows and does goes through the store,
so several servers can run behind a load balancer, beside any number of schedulers.
"""
