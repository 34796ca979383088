from hinedockd.testing.engine import main

main()
