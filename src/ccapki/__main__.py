from ccapki.cli import main

main()
