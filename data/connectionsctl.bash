# bash completion for connectionsctl(1)

_connectionsctl() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="list summary export watch stats delete delete-matching flush"
    local with_value="-p --proto -s --src -d --dst -r --reply-src -q --reply-dst --sport --dport
        -f --family --state -u --status -m --mark --zone --address --port --nat --nat-address
        --interface --id --icmp-type --icmp-code --icmp-id -n --limit --offset -S --sort -b --by
        -o --output"
    local flags="--stale --reverse -j --json --no-legend -y --yes --no-ask-password -h --help --version"

    # The command given so far, if any (words that are neither options nor their values).
    local i command=""
    for ((i = 1; i < cword; i++)); do
        case " ${with_value//$'\n'/ } " in
        *" ${words[i]} "*) ((i++)); continue ;;
        esac
        [[ ${words[i]} == -* ]] && continue
        command=${words[i]}
        break
    done

    case $prev in
    -p | --proto)
        COMPREPLY=($(compgen -W "tcp udp udplite sctp dccp icmp icmpv6 gre" -- "$cur")); return ;;
    -f | --family)
        COMPREPLY=($(compgen -W "ipv4 ipv6" -- "$cur")); return ;;
    --state)
        COMPREPLY=($(compgen -W "ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT
            CLOSE LISTEN NONE CLOSED COOKIE_WAIT COOKIE_ECHOED SHUTDOWN_SENT SHUTDOWN_RECD
            SHUTDOWN_ACK_SENT REQUEST RESPOND PARTOPEN OPEN CLOSEREQ CLOSING TIMEWAIT" -- "$cur")); return ;;
    -u | --status)
        local prefix="" last=$cur
        if [[ $cur == *,* ]]; then prefix=${cur%,*},; last=${cur##*,}; fi
        COMPREPLY=($(compgen -P "$prefix" -W "ASSURED SEEN_REPLY UNREPLIED CONFIRMED SRC_NAT DST_NAT
            EXPECTED DYING FIXED_TIMEOUT HELPER OFFLOAD HW_OFFLOAD" -- "$last")); return ;;
    --nat)
        COMPREPLY=($(compgen -W "snat dnat any none" -- "$cur")); return ;;
    --interface)
        # This network namespace's interfaces (sysfs may show another's).
        local ifaces
        ifaces=$(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
        COMPREPLY=($(compgen -W "${ifaces:-$(ls /sys/class/net 2>/dev/null)}" -- "$cur")); return ;;
    -S | --sort)
        if [[ $command == summary ]]; then
            COMPREPLY=($(compgen -W "connections bytes packets" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "id protocol state src dst sport dport timeout bytes packets start" -- "$cur"))
        fi
        return ;;
    -b | --by)
        COMPREPLY=($(compgen -W "src dst reply-src reply-dst sport dport protocol state family mark zone
            nat-address interface" -- "$cur")); return ;;
    -o | --output)
        COMPREPLY=($(compgen -W "table json csv" -- "$cur")); return ;;
    -s | --src | -d | --dst | -r | --reply-src | -q | --reply-dst | --address | --nat-address | \
    --sport | --dport | --port | -m | --mark | --zone | --id | --icmp-type | --icmp-code | --icmp-id | \
    -n | --limit | --offset)
        return ;;   # a value of the admin's own
    esac

    if [[ -z $command && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$with_value $flags" -- "$cur"))
    fi
}
complete -F _connectionsctl connectionsctl
