"""The outbound HTTP sandbox (docs/CONTRACTS.md safety rule 1).

Names resolve through the lab's own DNS table (:mod:`.dns`), IP literals are read the way
the C library reads them (:mod:`.addresses`), and :class:`.connector.SandboxConnector`
redirects every connection to a loopback simulator (:mod:`.simulators`) while recording
the *virtual* destination the app tried to reach. Nothing leaves 127.0.0.1.
"""
