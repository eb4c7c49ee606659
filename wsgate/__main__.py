from wsgate.app import main

main()
