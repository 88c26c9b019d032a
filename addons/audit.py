"""mitmdump/mitmproxy/mitmweb entry script for statuslint.

    mitmdump -s addons/audit.py --set statuslint_policy=policies/default.yaml

mitmproxy imports this file on its own (not as part of a package), so it stays a thin
shim over the installed ``statuslint`` package: relative imports would fail here.
"""

from statuslint.addon import StatusLint

addons = [StatusLint()]
