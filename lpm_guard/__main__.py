from lpm_guard.cli import main

main()
