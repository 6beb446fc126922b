#!/usr/bin/perl
# tests/real: perl workload.  Hashes, arrays, strings, regexes, sort, sprintf,
# closures, references, with a fixed seed.  run.sh also sets PERL_HASH_SEED=0
# and PERL_PERTURB_KEYS=0, but nothing printed depends on hash order: keys are
# always sorted.  Only modules from perl-base.
use strict;
use warnings;
use Scalar::Util qw(weaken blessed reftype);
use List::Util qw(sum max min reduce shuffle first);

srand(42);
$| = 0;

# A 32-bit checksum of a string that does not depend on any module.
sub ck { return sprintf('%08x', unpack('%32W*', $_[0]) ^ (length($_[0]) << 8)) }
my @log;
sub report { my ($what, @v) = @_; print join(' ', $what, @v), "\n" }

# ---------------------------------------------------------------- words
my @syll = qw(ka ri to na mu se lo pe chi ru an ve xo qu im dra fen gol);
sub word { my $n = 1 + int(rand(4)); join '', map { $syll[int rand @syll] } 1 .. $n }
my @words = map { word() } 1 .. 400_000;
report('words', scalar(@words), ck(join ',', @words[0 .. 999]));

# ---------------------------------------------------------------- hashes
my %count;
$count{$_}++ for @words;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 19];
report('distinct', scalar(keys %count));
report('top', map {"$_=$count{$_}"} @top);
my %by_len;
push @{ $by_len{length $_} }, $_ for keys %count;
for my $len (sort { $a <=> $b } keys %by_len) {
  my @w = sort @{ $by_len{$len} };
  report('len', $len, scalar(@w), $w[0], $w[-1], ck("@w"));
}
# delete half, re-insert with new values, hash slices, exists, each (sorted)
my @k = sort keys %count;
delete @count{ @k[grep { $_ % 2 } 0 .. $#k] };
@count{ map {"x$_"} 0 .. 9999 } = (1 .. 10000);
report('after delete', scalar(keys %count), (exists $count{ $k[1] }) ? 1 : 0, $count{x1234});
my @pairs;
while (my ($key, $v) = each %count) { push @pairs, "$key:$v" if $v > 500 }
report('each', scalar(@pairs), ck(join ';', sort @pairs));

# nested structures: a hash of arrays of hashes
my %db;
for my $i (0 .. 49_999) {
  my $k = $words[$i];
  push @{ $db{$k} }, { id => $i, sq => $i * $i % 1009, tag => [ map { $_ * $i % 97 } 1 .. 3 ] };
}
my $total = 0;
for my $k (sort keys %db) { $total += $_->{sq} + sum(@{ $_->{tag} }) for @{ $db{$k} } }
report('nested', scalar(keys %db), $total);

# ---------------------------------------------------------------- arrays
my @a = map { int(rand(1_000_000)) } 1 .. 600_000;
my @s = sort { $a <=> $b } @a;
report('sort num', $s[0], $s[300_000], $s[-1], ck(join ',', @s[0 .. 2999]));
my @r = reverse sort { $a cmp $b } map {"$_"} @a[0 .. 99_999];
report('sort str', $r[0], $r[-1]);
# Schwartzian transform over strings
my @st = map { $_->[1] } sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
         map { [ length($_) * 1000 + ord($_), $_ ] } @words[0 .. 49_999];
report('schwartz', ck(join ',', @st));
my @sp = @a;
splice(@sp, 1000, 50_000, (7) x 1000);
unshift @sp, 1 .. 100;
push @sp, reverse 1 .. 100;
my @sh = shuffle(@sp[0 .. 9999]);
report('splice', scalar(@sp), sum(@sp) % 1_000_003, ck("@sh"));
my @grid = map { [ map { $_ * 3 } 0 .. 199 ] } 0 .. 199;
$grid[$_][$_] = -1 for 0 .. 199;
report('grid', sum(map { sum(@$_) } @grid), reduce { $a * 31 + $b } map { $_->[7] } @grid);

# ---------------------------------------------------------------- strings
my $big = '';
$big .= sprintf("%06d:%s;", $_, $words[$_]) for 0 .. 99_999;
report('big', length($big), ck($big));
my $copy = $big;
substr($copy, 100, 50_000) = 'Z' x 123;
$copy =~ tr/a-m/N-Z/;
report('substr/tr', length($copy), ck($copy));
my $rep = ('abc' x 100_000) . ('-' x 1_000_000);
report('repeat', length($rep), index($rep, '-'), rindex($rep, 'c'));
my @fields = split /;/, $big;
report('split', scalar(@fields), $fields[777], ck(join '|', reverse @fields));
my $joined = join "\n", map { ucfirst(lc(reverse $_)) } @fields[0 .. 9999];
report('join', length($joined), ck($joined));
my $packed = pack('N*', @a[0 .. 9999]);
my @unpacked = unpack('N*', $packed);
report('pack', length($packed), sum(@unpacked) == sum(@a[0 .. 9999]) ? 'same' : 'DIFFERENT');
report('sprintf', sprintf('%5.2f|%-8s|%08b|%x|%e|%s', 3.14159, 'left', 37, 48879, 12345.678, join(',', 1 .. 5)));

# ---------------------------------------------------------------- regexes
my $text = join ' ', @words[0 .. 49_999];
my @m = $text =~ /\b(ka\w*ru)\b/g;
report('match', scalar(@m), ck("@m"));
(my $t2 = $text) =~ s/(\w)(\w*)/\U$1\E$2/g;
report('subst', ck($t2));
my $n = () = $text =~ /(?:se|lo){2,}/g;
report('count', $n);
my %caps;
while ($text =~ /\b(?<first>[a-z]{2})(?<rest>[a-z]*?)(?<last>ru|an)\b/g) { $caps{ $+{last} }{ $+{first} }++ }
report('named', map { my $l = $_; "$l:" . join(',', map {"$_=$caps{$l}{$_}"} sort keys %{ $caps{$l} }) } sort keys %caps);
my $t3 = $text;
my $subs = ($t3 =~ s/\b(\w+) \1\b/<$1>/g) || 0;
report('backref', $subs, ck($t3));
my @parts = split /(?<=[aeiou])(?=[kr])/, substr($text, 0, 20_000);
report('lookaround', scalar(@parts));
my $t4 = $text;
$t4 =~ s/(\w+)/length($1) > 6 ? scalar reverse($1) : $1/ge;
report('eval subst', ck($t4));
my $qr = qr/^(?:ka|ri)+$/;
report('qr', scalar(grep { $_ =~ $qr } @words));

# ---------------------------------------------------------------- closures
sub make_counter { my $c = shift; return { inc => sub { $c += shift // 1 }, get => sub { $c } } }
my @counters = map { make_counter($_) } 1 .. 1000;
for my $i (1 .. 100) { $_->{inc}->($i) for @counters }
report('closures', sum(map { $_->{get}->() } @counters));
my @adders = map { my $k = $_; sub { $_[0] + $k } } 1 .. 100;
my $acc = 0;
$acc = $_->($acc) for (@adders) x 10;
report('adders', $acc);
my $fib;
my %memo;
$fib = sub { my $n = shift; $memo{$n} //= $n < 2 ? $n : $fib->($n - 1) + $fib->($n - 2) };
report('fib', $fib->(90));
undef $fib;

# ---------------------------------------------------------------- references, objects
package Node {
  sub new { my ($class, %a) = @_; bless { %a, kids => [] }, $class }
  sub add { my ($s, $k) = @_; push @{ $s->{kids} }, $k; $k->{parent} = $s; Scalar::Util::weaken($k->{parent}); $k }
  sub size { my $s = shift; my $n = 1; $n += $_->size for @{ $s->{kids} }; $n }
  sub depth { my $s = shift; my $d = 0; while ($s = $s->{parent}) { $d++ } $d }
}
my $root = Node->new(name => 'root');
my @nodes = ($root);
for my $i (1 .. 200_000) { push @nodes, $nodes[int rand @nodes]->add(Node->new(name => "n$i")) }
report('tree', $root->size, max(map { $_->depth } @nodes[-1000 .. -1]), blessed($root), reftype($root));
@nodes = ();
undef $root;
my %graph;
for my $i (0 .. 9999) { $graph{$i} = { id => $i, next => undef } }
$graph{$_}{next} = $graph{ ($_ * 7 + 3) % 10_000 } for 0 .. 9999;
my ($p, $steps) = ($graph{0}, 0);
my %seen;
until ($seen{ $p->{id} }++) { $p = $p->{next}; $steps++ }
report('cycle', $steps, $p->{id});
$_->{next} = undef for values %graph;    # break the cycles
my $deep = [];
my $cur = $deep;
for (1 .. 10_000) { my $n = []; push @$cur, $_, $n; $cur = $n }
my $dd = 0;
$cur = $deep;
while (@$cur) { $dd += $cur->[0]; $cur = $cur->[1] }
report('deep', $dd);

# ---------------------------------------------------------------- eval/die, local, wantarray, string eval
my $errs = 0;
for my $i (1 .. 10_000) {
  eval { die { code => $i } if $i % 3 == 0; die "plain $i\n" if $i % 5 == 0; 1 } or do {
    my $e = $@;
    $errs += ref $e ? $e->{code} : length $e;
  };
}
report('eval', $errs);
our $g = 'outer';
sub show_g { $g }
sub with_local { local $g = 'inner'; show_g() }
report('local', with_local(), show_g());
sub ctx { wantarray ? 'list' : defined(wantarray) ? 'scalar' : 'void' }
my @l = ctx();
my $sc = ctx();
report('wantarray', $l[0], $sc);
my $code = join ';', map {"\$x += $_ * 2"} 1 .. 2000;
my $x = 0;
eval "$code; 1" or die $@;
report('string eval', $x);

# ---------------------------------------------------------------- churn
my %cache;
for my $round (1 .. 100) {
  for my $i (1 .. 5000) {
    my $k = int(rand(20_000));
    if (rand() < 0.6) { $cache{$k} = [ ('x' x (1 + ($k % 300))), $round, [ 1 .. ($k % 20) ] ] }
    else { delete $cache{$k} }
  }
}
my $sz = 0;
$sz += length($cache{$_}[0]) + @{ $cache{$_}[2] } for keys %cache;
report('churn', scalar(keys %cache), $sz);
print "done\n";
