from epigrid.manage import main

main()
