from promptshelf.cli import main

main()
